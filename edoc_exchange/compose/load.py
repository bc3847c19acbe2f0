"""Load a plan or report from YAML, with every error placed at its line and column.

ruamel.yaml keeps the position of every key, value and list item, so a problem found by
the models (a missing field, a wrong type, an unknown PAPI dimension) is shown where the
clerk has to edit: ``ke-hoach.yaml: dòng 14, cột 9: sections[1].content[0].papi``. YAML
1.2 is read (``no`` stays a string), duplicate keys are refused, and nothing but an
:class:`~edoc_exchange.compose.errors.InputError` ever leaves this module for bad input.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import ContentError, InputError, Problem, YamlSyntaxError
from .models import Plan, Report

__all__ = ["Fill", "load", "load_plan", "load_report", "locate", "locate_in", "parse"]

#: Fills computed content into the plain YAML mapping before it is validated (the
#: e-governance figures a report cites as ``egov: KEY``); raises an EdocError it names.
Fill = Callable[[dict[str, Any]], dict[str, Any]]

_DOCUMENT: TypeAdapter[Plan | Report] = TypeAdapter(
    Annotated[Plan | Report, Field(discriminator="kind")]
)

_T = TypeVar("_T", Plan, Report)

#: The largest input read: a plan is a few dozen kilobytes; this stops a wrong file early.
MAX_BYTES = 2 * 1024 * 1024


def load(path: str | os.PathLike[str], *, fill: Fill | None = None) -> Plan | Report:
    """Read a plan or report from a YAML file (``kind: plan`` or ``kind: report``).

    Raises :class:`YamlSyntaxError` or :class:`ContentError` (both :class:`InputError`)
    listing every problem with its line and column; ``OSError`` is turned into an
    :class:`InputError` too, so a command line needs one ``except``.
    """
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(
            [
                Problem(
                    "unreadable",
                    "",
                    None,
                    None,
                    f"Không đọc được tệp: {exc.strerror}",
                    f"cannot read the file: {exc.strerror}",
                )
            ],
            source=source,
        ) from None
    if len(data) > MAX_BYTES:
        raise InputError(
            [
                Problem(
                    "too-large",
                    "",
                    None,
                    None,
                    f"Tệp lớn hơn {MAX_BYTES // 1024} KiB",
                    f"the file is larger than {MAX_BYTES // 1024} KiB",
                )
            ],
            source=source,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(
            [
                Problem(
                    "encoding",
                    "",
                    None,
                    None,
                    f"Tệp không phải UTF-8 (byte {exc.start})",
                    f"the file is not UTF-8 (byte {exc.start})",
                )
            ],
            source=source,
        ) from None
    return parse(text, source=source, fill=fill)


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a file that must hold a plan; a report is refused with a ContentError."""
    return _expect(load(path), Plan, str(path))


def load_report(path: str | os.PathLike[str]) -> Report:
    """Read a file that must hold a report; a plan is refused with a ContentError."""
    return _expect(load(path), Report, str(path))


def _expect(document: Plan | Report, cls: type[_T], source: str) -> _T:
    if isinstance(document, cls):
        return document
    want = cls.kind_of
    raise ContentError(
        [
            Problem(
                "kind",
                "kind",
                None,
                None,
                f"Tệp này phải là {want.type_name.lower()} (kind: {want.value})",
                f"this file must hold a {want.value} (kind: {want.value})",
            )
        ],
        source=source,
    )


def parse(text: str, *, source: str | None = None, fill: Fill | None = None) -> Plan | Report:
    """Parse YAML text into a Plan or Report; see :func:`load` for the errors raised.

    ``fill`` completes the plain mapping before validation (figures a report takes from
    the tool); without it a figure written as ``egov: KEY`` without a value is refused at
    its line."""
    tree = _read_yaml(text, source)
    if not isinstance(tree, CommentedMap):
        raise ContentError(
            [
                Problem(
                    "not-a-mapping",
                    "",
                    1,
                    1,
                    "Tệp phải là một ánh xạ khóa: giá trị (kind, issuer, …)",
                    "the file must be a mapping of keys to values (kind, issuer, …)",
                )
            ],
            source=source,
        )
    plain = _plain(tree)
    if fill is not None:
        plain = fill(plain)
    else:
        _refuse_unfilled(tree, source)
    try:
        return _DOCUMENT.validate_python(plain)
    except ValidationError as exc:
        problems = [_problem(tree, error) for error in exc.errors()]
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise ContentError(problems, source=source) from None


def _refuse_unfilled(tree: CommentedMap, source: str | None) -> None:
    """A report figure that the tool fills (``egov: KEY``) and that has no value yet cannot
    be composed unfilled (one with a value keeps it: the figure as last filled)."""
    results = tree.get("results")
    if not isinstance(results, CommentedSeq):
        return
    problems: list[Problem] = []
    for r_index, result in enumerate(results):
        figures = result.get("figures") if isinstance(result, CommentedMap) else None
        if not isinstance(figures, CommentedSeq):
            continue
        for f_index, figure in enumerate(figures):
            if isinstance(figure, CommentedMap) and "egov" in figure and "value" not in figure:
                path, line, column = _locate(
                    tree, ("results", r_index, "figures", f_index, "egov"), key=False
                )
                problems.append(
                    Problem(
                        "egov-unfilled",
                        path,
                        line,
                        column,
                        f"Số liệu '{figure['egov']}' do phần mềm tính: soạn với --egov KỲ "
                        "(ví dụ --egov 2026-Q4)",
                        f"the figure '{figure['egov']}' is computed by the tool: compose with "
                        "--egov PERIOD (e.g. --egov 2026-Q4)",
                    )
                )
    if problems:
        raise ContentError(problems, source=source)


def _read_yaml(text: str, source: str | None) -> Any:
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except DuplicateKeyError as exc:
        line, column = _mark(exc)
        key = _duplicate_key(exc)
        raise YamlSyntaxError(
            [
                Problem(
                    "duplicate-key",
                    key,
                    line,
                    column,
                    f"Khóa '{key}' được ghi hai lần trong cùng một ánh xạ",
                    f"key '{key}' appears twice in the same mapping",
                )
            ],
            source=source,
        ) from None
    except MarkedYAMLError as exc:
        line, column = _mark(exc)
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise YamlSyntaxError(
            [
                Problem(
                    "yaml-syntax",
                    "",
                    line,
                    column,
                    f"Lỗi cú pháp YAML: {what} (kiểm tra thụt lề, dấu "
                    "hai chấm; đặt đoạn văn có ': ' sau '>-')",
                    f"YAML syntax error: {what} (check the indentation "
                    "and colons; put text holding ': ' after '>-')",
                )
            ],
            source=source,
        ) from None
    except YAMLError as exc:
        raise YamlSyntaxError(
            [
                Problem(
                    "yaml-syntax",
                    "",
                    None,
                    None,
                    f"Lỗi cú pháp YAML: {exc}",
                    f"YAML syntax error: {exc}",
                )
            ],
            source=source,
        ) from None
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, RecursionError) as exc:
        # ruamel's constructors raise plain errors for an explicitly typed value that is not
        # of its type (``!!int Kế hoạch``, ``!!binary`` that is not base64): the file is
        # still wrong in one place a person can find, never a traceback.
        line, column = _first_tag(text)
        raise YamlSyntaxError(
            [
                Problem(
                    "yaml-tag",
                    "",
                    line,
                    column,
                    f"Giá trị có kiểu ghi rõ (!!...) không đúng kiểu đó: {exc}",
                    f"a value with an explicit type (!!...) is not of that type: {exc}",
                )
            ],
            source=source,
        ) from None


def _first_tag(text: str) -> tuple[int | None, int | None]:
    """Where the first explicit ``!!`` tag stands (line, column), to point a person at it."""
    for number, line in enumerate(text.splitlines(), start=1):
        column = line.find("!!")
        if column >= 0:
            return number, column + 1
    return None, None


def _mark(exc: MarkedYAMLError) -> tuple[int | None, int | None]:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


def _duplicate_key(exc: DuplicateKeyError) -> str:
    # ruamel says: found duplicate key "subject" with value "..." (original value: "...")
    problem = str(exc.problem or "")
    start = problem.find('"')
    end = problem.find('"', start + 1)
    return problem[start + 1 : end] if 0 <= start < end else "?"


def _plain(node: Any) -> Any:
    """The tree as plain Python values (ruamel's scalar subclasses carry formatting only)."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.datetime | dt.date):
        return node
    return node


# --- placing validation errors -------------------------------------------------------------------


def _problem(tree: CommentedMap, error: ErrorDetails) -> Problem:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    extra = getattr(cause, "loc", ())
    loc = loc + tuple(extra)
    if error["type"] in ("union_tag_invalid", "union_tag_not_found") and not loc:
        loc = ("kind",)  # the plan/report choice is made on "kind"
    path, line, column = _locate(tree, loc, key=error["type"] == "extra_forbidden")
    code, vi, en = _texts(error, cause, path)
    return Problem(code, path, line, column, vi, en)


def _locate(
    tree: CommentedMap, loc: Sequence[int | str], *, key: bool
) -> tuple[str, int | None, int | None]:
    """Walk ``loc`` through the YAML tree: the field path and the 1-based line and column.

    Parts of ``loc`` that are not in the data (the tags pydantic adds for unions) are
    skipped. A missing field is placed at the mapping that lacks it; an unknown key at the
    key, anything else at the value.
    """
    node: Any = tree
    path = ""
    line, column = tree.lc.line + 1, tree.lc.col + 1
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, CommentedMap) and isinstance(part, str):
            if part in node:
                k_line, k_col = node.lc.key(part)
                v_line, v_col = node.lc.value(part)
                if key and last:
                    line, column = k_line + 1, k_col + 1
                else:
                    line, column = v_line + 1, v_col + 1
                node = node[part]
                path = f"{path}.{part}" if path else part
            elif last:
                path = f"{path}.{part}" if path else part
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            i_line, i_col = node.lc.item(part)
            line, column = i_line + 1, i_col + 1
            node = node[part]
            path = f"{path}[{part}]"
    return path, line, column


_KIND_NAMES = {
    str: ("chuỗi văn bản", "text"),
    bool: ("true/false", "true/false"),
    int: ("số", "a number"),
    float: ("số", "a number"),
    dict: ("ánh xạ khóa: giá trị", "a mapping"),
    list: ("danh sách", "a list"),
    type(None): ("giá trị trống", "nothing (null)"),
    dt.date: ("ngày", "a date"),
    dt.datetime: ("ngày giờ", "a date and time"),
}

_EXPECTED = {
    "string_type": ("chuỗi văn bản", "text"),
    "list_type": ("danh sách (mỗi mục một dòng '- ')", "a list (one '- ' item per line)"),
    "dict_type": ("ánh xạ khóa: giá trị", "a mapping of keys to values"),
    "model_type": ("ánh xạ khóa: giá trị", "a mapping of keys to values"),
    "model_attributes_type": ("ánh xạ khóa: giá trị", "a mapping of keys to values"),
    "bool_type": ("true hoặc false", "true or false"),
    "bool_parsing": ("true hoặc false", "true or false"),
    "decimal_type": ("số", "a number"),
    "decimal_parsing": ("số", "a number"),
    "int_type": ("số nguyên", "a whole number"),
    "int_parsing": ("số nguyên", "a whole number"),
    "float_type": ("số", "a number"),
    "float_parsing": ("số", "a number"),
}


def _found(value: Any) -> tuple[str, str]:
    for kind, names in _KIND_NAMES.items():
        if type(value) is kind:
            return names
    return type(value).__name__, type(value).__name__


def _texts(error: ErrorDetails, cause: Any, path: str) -> tuple[str, str, str]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    field = path.rsplit(".", 1)[-1] if path else ""
    if cause is not None and hasattr(cause, "vi") and hasattr(cause, "en"):
        return str(getattr(cause, "code", "invalid")), str(cause.vi), str(cause.en)
    if kind == "missing":
        return (
            "missing",
            f"Thiếu trường bắt buộc '{field}'",
            f"required field '{field}' is missing",
        )
    if kind == "extra_forbidden":
        return (
            "unknown-field",
            f"Trường '{field}' không có trong mẫu (viết sai tên?)",
            f"unknown field '{field}' (misspelt?)",
        )
    if kind in _EXPECTED:
        want_vi, want_en = _EXPECTED[kind]
        got_vi, got_en = _found(error.get("input"))
        return (
            "wrong-type",
            f"Sai kiểu dữ liệu: cần {want_vi}, nhận {got_vi}",
            f"wrong type: expected {want_en}, got {got_en}",
        )
    if kind == "union_tag_not_found" and path == "kind":
        return (
            "missing",
            "Thiếu trường bắt buộc 'kind' (plan: kế hoạch, report: báo cáo)",
            "required field 'kind' is missing (plan or report)",
        )
    if kind == "union_tag_invalid":
        return (
            "kind",
            f"Loại văn bản '{ctx.get('tag')}' không có; chọn plan (kế hoạch) hoặc report (báo cáo)",
            f"unknown kind '{ctx.get('tag')}'; choose plan or report",
        )
    if kind == "block_kind":
        return (
            "block-kind",
            "Mỗi khối nội dung là một đoạn văn (chuỗi) hoặc một ánh xạ có "
            "một trong các khóa: heading, bullets, indicators, responsibilities",
            "a block is a paragraph (text) or a mapping with one of the keys heading, "
            "bullets, indicators, responsibilities",
        )
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        return (
            "too-long",
            f"Quá dài: tối đa {limit} (ký tự hoặc mục)",
            f"too long: at most {limit} (characters or items)",
        )
    if kind in ("too_short", "string_too_short"):
        limit = ctx.get("min_length")
        return ("too-short", f"Cần ít nhất {limit} mục", f"at least {limit} item(s) needed")
    if kind == "literal_error":
        return (
            "kind",
            f"Giá trị phải là {ctx.get('expected')}",
            f"the value must be {ctx.get('expected')}",
        )
    return (kind, f"Giá trị không hợp lệ: {error['msg']}", f"invalid value: {error['msg']}")


def locate(path: str | os.PathLike[str], loc: Sequence[int | str]) -> Problem:
    """Where ``loc`` (e.g. ``("recipients", 0, "organ_id")``) sits in a YAML file.

    For errors found after loading (an OrganId missing from the directory, a number already
    used): returns a Problem with the field path, line and column and empty texts, for the
    caller to fill in (``dataclasses.replace``).
    """
    return locate_in(Path(path).read_text(encoding="utf-8-sig"), loc, source=str(path))


def locate_in(text: str, loc: Sequence[int | str], *, source: str | None = None) -> Problem:
    """:func:`locate` for YAML text already in memory (an upload, never written to disk)."""
    tree = _read_yaml(text, source)
    if not isinstance(tree, CommentedMap):
        return Problem("located", "", None, None, "", "")
    where, line, column = _locate(tree, loc, key=False)
    return Problem("located", where, line, column, "", "")
