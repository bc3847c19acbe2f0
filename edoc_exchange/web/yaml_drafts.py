"""Drafts composed from a plan or report written in YAML (the format of ``edoc compose``).

The small form on "Soạn dự thảo mới" posts the file to ``/drafts/from-yaml``; the office
API reads it with the compose loader, checks it and stores an ordinary draft (see
:func:`edoc_exchange.office.outgoing.draft_from_yaml`), which then goes through approval
and issuing as any other. A refusal comes back on the page naming the line, the column
and the field of the YAML, every problem listed, nothing stored. A composed draft being
written (a returned one) is corrected by uploading its YAML again.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import EdocError
from ..office import outgoing
from . import _i18n
from ._app import call, context, form_of, language, not_found, page, render
from .drafts import WRITERS

_i18n.add({
    "yaml.title": ("Soạn từ tệp kế hoạch/báo cáo (YAML)",
                   "Compose from a plan/report file (YAML)"),
    "yaml.replace": ("Thay bằng tệp YAML đã sửa", "Replace with a corrected YAML file"),
    "yaml.file": ("Tệp YAML (kind: plan hoặc report)", "YAML file (kind: plan or report)"),
    "yaml.attach": ("Gửi kèm tệp YAML cùng văn bản", "Send the YAML file with the document"),
    "yaml.hint": (
        "Các trường (loại, ký hiệu, trích yếu, nơi nhận, độ khẩn, hạn xử lý, người ký) lấy "
        "từ tệp; văn bản chính là bản PDF dựng từ tệp. Số văn bản được lấy và ký số khi phát "
        "hành.",
        "The fields (type, notation, subject, recipients, urgency, due date, signer) come "
        "from the file; the main document is the PDF rendered from it. The number is taken, "
        "and the PDF signed, when it is issued.",
    ),
    "yaml.compose": ("Dựng dự thảo", "Compose the draft"),
    "yaml.composed_note": (
        "Soạn từ tệp YAML: bản PDF sẽ được dựng lại với số văn bản và ký số khi phát hành.",
        "Composed from a YAML file: the PDF is rendered again with its number and signed "
        "when issued.",
    ),
    "yaml.source_sent": ("Tệp YAML được gửi kèm.", "The YAML file is sent with it."),
    "yaml.source_kept": ("Tệp YAML chỉ lưu tại đây, không gửi đi.",
                         "The YAML file is kept here only, not sent."),
    "yaml.problems": ("Các lỗi trong tệp", "Problems in the file"),
})


async def _read(request: Request) -> tuple[bytes, str, bool, bool]:
    """The chosen file's bytes (read up to one byte past the loader's bound), its name,
    whether it was cut there, and whether the YAML is to be sent too."""
    form = await form_of(request)
    value = form.get("yaml_file")
    attach = form.get("attach_source") == "1"
    filename = getattr(value, "filename", None)
    if value is None or isinstance(value, str) or not filename:
        return b"", "", False, attach
    limit = outgoing.YAML_MAX_BYTES
    data = await value.read(limit + 1)
    return data[:limit], filename, len(data) > limit, attach


def _problems(exc: EdocError) -> list[str]:
    """Every problem of a YAML refused by the loader (line, column, field, both texts)."""
    found: Any = getattr(exc, "problems", ())
    return [str(problem) for problem in found]


def _refused(request: Request, exc: EdocError, draft_id: int | None) -> Response:
    return render(
        request, "draft_yaml.html", status_code=400, draft_id=draft_id,
        error=_i18n.both(exc.vi, exc.en, language(request)), error_step=exc.step,
        problems=_problems(exc),
    )


@page(*WRITERS)
async def yaml_form(request: Request) -> Response:
    return render(request, "draft_yaml.html", draft_id=None, error=None, error_step=None,
                  problems=[])


@page(*WRITERS)
async def from_yaml(request: Request) -> Response:
    data, name, truncated, attach = await _read(request)
    try:
        draft_id = await call(outgoing.draft_from_yaml, context(request).office,
                              request.state.visitor.user, data, name, attach_source=attach,
                              truncated=truncated)
    except EdocError as exc:
        return _refused(request, exc, None)
    return RedirectResponse(f"/drafts/{draft_id}", 303)


@page(*WRITERS)
async def replace_from_yaml(request: Request) -> Response:
    try:
        draft_id = int(request.path_params["draft_id"])
    except (KeyError, ValueError):
        return not_found(request)
    data, name, truncated, attach = await _read(request)
    try:
        await call(outgoing.replace_draft_yaml, context(request).office,
                   request.state.visitor.user, draft_id, data, name, attach_source=attach,
                   truncated=truncated)
    except EdocError as exc:
        return _refused(request, exc, draft_id)
    return RedirectResponse(f"/drafts/{draft_id}", 303)


routes: list[BaseRoute] = [
    Route("/drafts/from-yaml", yaml_form, methods=["GET"]),
    Route("/drafts/from-yaml", from_yaml, methods=["POST"]),
    Route("/drafts/{draft_id:int}/from-yaml", replace_from_yaml, methods=["POST"]),
]
