"""The strict checker: the standard's rules applied to a model.

The writer runs it before producing bytes (so that what we send is always strictly valid)
and the reader runs it after building a model (with the lines it saw). Each rule comes from
the element tables in :mod:`~edoc_exchange.edxml.models`; nothing here knows a field name
that those tables do not declare.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import packing
from .errors import IdentifierError
from .findings import Finding, Severity, make_finding
from .identifiers import (
    DocumentId,
    OrganId,
    foreign_code_problem,
    looks_like_uuid,
    reference_problem,
)
from .models import Document, Message, StatusMessage, _Element
from .spec import NS, Child, Kind, Need, Rule

__all__ = [
    "CONTAINER_PATHS",
    "HEADER_PATH",
    "TRACE_PATH",
    "Problem",
    "check",
    "child_path",
    "rule_problem",
]

HEADER_PATH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
TRACE_PATH = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
ATTACHMENT_PATH = "/edXML/AttachmentEncoded/Attachment"

#: Where each container element sits (the keys of Message.container_extensions).
CONTAINER_PATHS = {
    "edXML": "/edXML",
    "edXMLEnvelope": "/edXML/edXMLEnvelope",
    "edXMLHeader": "/edXML/edXMLEnvelope/edXMLHeader",
    "MessageHeader": HEADER_PATH,
    "TraceHeaderList": TRACE_PATH,
    "edXMLBody": "/edXML/edXMLEnvelope/edXMLBody",
    "edXMLManifest": "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest",
    "AttachmentEncoded": "/edXML/AttachmentEncoded",
}

#: Attachment names longer than this are refused (Nghị định 30/2020, Phụ lục VI).
ATTACHMENT_NAME_MAX = 500


def child_path(parent: str, child: Child, index: int | None = None) -> str:
    """The element path of a child; list items carry a 1-based index."""
    if child.wrapper:
        return f"{parent}/{child.wrapper}/{child.tag}[{index}]"
    if child.many:
        return f"{parent}/{child.tag}[{index}]"
    return f"{parent}/{child.tag}"


_ALLOWED = {Rule.PRIORITY: range(5), Rule.BUSINESS_TYPE: range(4), Rule.ZERO_ONE: range(2)}


def _is_digits(text: str, width: int | None = None) -> bool:
    return text.isascii() and text.isdigit() and (width is None or len(text) == width)


@dataclass(frozen=True, slots=True)
class Problem:
    """A value breaking a rule: the finding code, its parameters, and whether it is only
    ever a warning (another organisation's identifier, echoed as it was sent)."""

    code: str
    params: dict[str, object]
    warning_only: bool = False


def _organ_id_problem(text: str) -> Problem | None:
    try:
        OrganId.parse(text)
    except IdentifierError as exc:
        return Problem("bad-organ-id", {"detail": exc.en, "detail_vi": exc.vi})
    return None


def _document_id_problem(text: str) -> Problem | None:
    if looks_like_uuid(text):
        return Problem("uuid-document-id", {"value": text})
    try:
        DocumentId.parse(text)
    except IdentifierError as exc:
        return Problem("bad-document-id", {"detail": exc.en, "detail_vi": exc.vi})
    return None


def _organ_ref_problem(text: str) -> Problem | None:
    if _organ_id_problem(text) is None:
        return None
    junk = foreign_code_problem(text)
    if junk is not None:
        return Problem("bad-organ-id", {"detail": junk, "detail_vi": junk})
    return Problem("foreign-organ-id", {"value": text}, warning_only=True)


def _document_ref_problem(text: str) -> Problem | None:
    standard = _document_id_problem(text)
    if standard is None:
        return None
    junk = reference_problem(text)
    if junk is not None:
        detail = f"DocumentId '{text[:60]}' {junk}"
        return Problem("bad-document-id", {"detail": detail, "detail_vi": detail})
    detail = str(standard.params.get("detail") or "a UUID")
    detail_vi = str(standard.params.get("detail_vi") or "là UUID")
    try:  # another scheme's OrganId in an otherwise well-formed DocumentId
        organ = DocumentId.parse_foreign(text)[0]
    except IdentifierError:
        pass
    else:
        detail = f"its OrganId '{organ}' is of another scheme"
        detail_vi = f"mã cơ quan '{organ}' theo cách đánh số khác"
    return Problem(
        "foreign-document-id",
        {"value": text, "detail": detail, "detail_vi": detail_vi},
        warning_only=True,
    )


def rule_problem(rule: Rule, value: Any) -> Problem | None:
    """The problem of a value breaking ``rule``, or None.

    A pure function of short values that recur (the same organisations' codes in message
    after message): answers for values of up to 256 characters are remembered.
    """
    kind = type(value)
    if not (kind is int or (kind is str and len(value) <= _MEMO_MAX)):
        return _rule_problem(rule, value)
    key = (id(rule), kind, value)  # an enum member's hash is computed in Python: its id is not
    try:
        return _MEMO[key]
    except KeyError:
        pass
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    found = _MEMO[key] = _rule_problem(rule, value)
    return found


_MEMO_MAX = 256
_MEMO_SIZE = 4096
_MEMO: dict[tuple[int, type, str | int], Problem | None] = {}


def _rule_problem(rule: Rule, value: Any) -> Problem | None:
    text = str(value)
    if text == "null":  # what Java writes for a missing value: the reader drops it
        return Problem("null-text", {"name": rule.value})
    if rule is Rule.ORGAN_ID:
        return _organ_id_problem(text)
    if rule is Rule.DOCUMENT_ID:
        return _document_id_problem(text)
    if rule is Rule.ORGAN_REF:
        return _organ_ref_problem(text)
    if rule is Rule.DOCUMENT_REF:
        return _document_ref_problem(text)
    if rule is Rule.DIGITS and not _is_digits(text):
        return Problem("bad-code-value", {"value": text, "allowed": "digits / chữ số"})
    if rule is Rule.STATUS_CODE and not _is_digits(text, 2):
        return Problem("bad-status-code", {"value": text})
    if rule is Rule.NON_NEGATIVE and int(value) < 0:
        return Problem("bad-code-value", {"value": value, "allowed": "0, 1, 2, …"})
    allowed = _ALLOWED.get(rule)
    if allowed is not None and int(value) not in allowed:
        if rule is Rule.PRIORITY:
            return Problem("bad-priority", {"value": value})
        return Problem("bad-code-value", {"value": value, "allowed": ", ".join(map(str, allowed))})
    return None


@dataclass(frozen=True, slots=True)
class _Step:
    """One child the checker looks at, with what it checks worked out once."""

    child: Child
    field: str
    many: bool
    model: bool  #: a nested element (walked)
    raw: bool  #: kept verbatim (its tag is checked)
    #: The finding when it is absent: ("missing-element", error) or ("missing-optional",
    #: the mode's severity), or None when it may be absent.
    missing: tuple[str, Severity | None] | None
    checked: bool  #: a plain value with a rule or a length limit


#: By the table's id; the table is kept with its steps, so that its id is never reused.
_STEPS: dict[tuple[int, bool], tuple[tuple[Child, ...], tuple[_Step, ...]]] = {}


def _steps(table: tuple[Child, ...], structure: bool) -> tuple[_Step, ...]:
    """The children of a table the checker has anything to look at (the others are
    optional plain values without a rule or a length limit), keyed by the table's id:
    the tables are module constants."""
    key = (id(table), structure)
    hit = _STEPS.get(key)
    if hit is None or hit[0] is not table:
        steps = []
        for child in table:
            missing: tuple[str, Severity | None] | None = None
            if structure and child.need is Need.ALWAYS:
                missing = ("missing-element", Severity.ERROR)
            elif structure and child.need is Need.STRICT:
                missing = ("missing-optional", None)
            model = child.kind is Kind.MODEL
            raw = child.kind is Kind.RAW
            limited = child.max_len is not None or child.rule is not None
            checked = not model and not raw and limited
            if missing or model or raw or checked:
                steps.append(_Step(child, child.field, child.many, model, raw, missing, checked))
        hit = _STEPS[key] = (table, tuple(steps))
    return hit[1]


class _Checker:
    def __init__(
        self,
        *,
        strict: bool,
        structure: bool,
        lines: Mapping[str, int],
        sources: Mapping[str, str],
    ) -> None:
        self.severity = Severity.ERROR if strict else Severity.WARNING
        self.structure = structure
        self.lines = lines
        self.sources = sources
        self.findings: list[Finding] = []

    def add(self, code: str, path: str, severity: Severity | None = None, **params: object) -> None:
        line = self.lines.get(path)
        if line is None:  # a missing element: point at its parent's line
            line = self.lines.get(path.rsplit("/", 1)[0])
        where = self.source_path(path)
        self.findings.append(make_finding(code, severity or self.severity, where, line, **params))

    def source_path(self, path: str) -> str:
        """The element path in the source of a path in the model.

        They differ after the reader dropped an element (an empty To, say): the model's
        ``To[2]`` may be the source's ``To[3]``. The reader records where each kept list
        item came from; an unrecorded path (a missing child) keeps its parent's translation.
        """
        if not self.sources or path in ("", "/"):
            return path
        found = self.sources.get(path)
        if found is not None:
            return found
        parent, _, last = path.rpartition("/")
        return f"{self.source_path(parent)}/{last}" if parent else path

    def walk(self, model: _Element | Message, children: tuple[Child, ...], path: str) -> None:
        if self.structure and isinstance(model, _Element):
            for ext in model.extensions:
                self.add("unknown-element", path, name=ext.tag)
        values = model.__dict__
        for step in _steps(children, self.structure):
            child = step.child
            value = values[step.field]
            if value is None or (step.many and not value):
                if step.missing is not None:
                    code, sev = step.missing
                    where = child_path(path, child, 1) if step.many else child_path(path, child)
                    self.add(code, where, sev, name=child.tag)
                continue
            items: list[Any] = value if step.many else [value]
            for index, item in enumerate(items, start=1):
                if item is None:
                    continue
                if step.model:
                    assert isinstance(item, _Element)
                    self.walk(item, item.xml_children, child_path(path, child, index))
                elif step.raw:
                    # Kept verbatim, but it is written as this child: it must be this child.
                    if item.tag != f"{{{NS}}}{child.tag}":
                        self.add(
                            "wrong-element",
                            child_path(path, child, index),
                            Severity.ERROR,
                            name=item.tag,
                            expected=child.tag,
                        )
                elif step.checked:
                    self.check_value(child, item, path, index)

    def check_value(self, child: Child, item: Any, path: str, index: int) -> None:
        """A plain value's length limit and rule."""
        if child.max_len is not None and len(str(item)) > child.max_len:
            where = child_path(path, child, index)
            self.add("too-long", where, length=len(str(item)), limit=child.max_len)
        if child.rule is not None:
            problem = rule_problem(child.rule, item)
            if problem is not None:
                severity = Severity.WARNING if problem.warning_only else None
                self.add(problem.code, child_path(path, child, index), severity, **problem.params)

    def attachments(self, document: Document) -> None:
        for index, att in enumerate(document.attachments, start=1):
            if self.structure and packing.is_zip_label(att.content_type, att.name):
                # We send every file as its own type: a receiver that does not unzip as the
                # official parser does would hand its clerk a zip named .doc.
                self.add(
                    "packed-attachment",
                    f"{ATTACHMENT_PATH}[{index}]/ContentType",
                    name=att.name,
                )
            if len(att.name) > ATTACHMENT_NAME_MAX:
                self.add(
                    "too-long",
                    f"{ATTACHMENT_PATH}[{index}]/AttachmentName",
                    length=len(att.name),
                    limit=ATTACHMENT_NAME_MAX,
                )


def iter_header_tables(message: Message) -> Iterator[tuple[tuple[Child, ...], str]]:
    """The element tables of a message's header blocks with the path each starts at."""
    if isinstance(message, Document):
        yield Document.header_children, HEADER_PATH
        yield Document.trace_children, TRACE_PATH
    elif isinstance(message, StatusMessage):
        yield StatusMessage.header_children, HEADER_PATH


def check(
    message: Message,
    *,
    strict: bool = True,
    structure: bool = True,
    lines: Mapping[str, int] | None = None,
    sources: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every rule ``message`` breaks, as findings (errors when strict, else warnings).

    ``structure`` also reports missing elements the standard expects, unknown elements and
    a legacy signature; the reader turns it off because it reports those itself, with the
    lines where it saw them.
    """
    checker = _Checker(
        strict=strict, structure=structure, lines=lines or {}, sources=sources or {}
    )
    for children, path in iter_header_tables(message):
        checker.walk(message, children, path)
    if isinstance(message, Document):
        checker.attachments(message)
        if structure and not message.trace:
            checker.add("missing-optional", f"{TRACE_PATH}/TraceHeader[1]", name="TraceHeader")
    if not structure:
        return checker.findings
    if message.signature is not None and message.signature_is_legacy:
        checker.add("legacy-signature", "/edXML/edXMLEnvelope/edXMLHeader/Signature")
    for container, extensions in message.container_extensions.items():
        for ext in extensions:
            checker.add("unknown-element", CONTAINER_PATHS[container], name=ext.tag)
    return checker.findings
