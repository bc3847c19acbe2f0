"""Drafts (dự thảo): write one from a form with its files, submit, approve or return, issue.

Every action is a plain form posted to its own address; the office API checks the roles
again and refuses a draft in the wrong state with nothing changed. A refused form comes
back filled in, with the message naming the field (files must be chosen again: a browser
never lets a page set them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import EdocError
from ..office import outgoing, staff
from ..office.outgoing import DraftForm, DraftState, Upload
from . import _i18n
from ._app import call, context, form_of, language, not_found, page, render

_i18n.add({
    "drafts.title": ("Dự thảo văn bản đi", "Outgoing drafts"),
    "drafts.new": ("Soạn dự thảo mới", "Write a new draft"),
    "drafts.edit": ("Sửa dự thảo", "Edit the draft"),
    "drafts.all": ("Tất cả", "All"),
    "drafts.none": ("Chưa có dự thảo nào", "no drafts yet"),
    "drafts.subject": ("Trích yếu", "Subject"),
    "drafts.type": ("Loại văn bản", "Document type"),
    "drafts.notation": ("Ký hiệu", "Notation"),
    "drafts.notation_hint": ("ví dụ KH-UBND", "e.g. KH-UBND"),
    "drafts.recipients": ("Nơi nhận", "Recipients"),
    "drafts.find_recipients": ("Tìm nơi nhận", "Find recipients"),
    "drafts.priority": ("Độ khẩn", "Urgency"),
    "drafts.due_date": ("Hạn xử lý", "Due date"),
    "drafts.place": ("Địa danh", "Place"),
    "drafts.signer_competence": ("Thẩm quyền ký", "Signing authority"),
    "drafts.signer_position": ("Chức vụ người ký", "Signer's position"),
    "drafts.signer_name": ("Họ tên người ký", "Signer's full name"),
    "drafts.main_file": ("Văn bản chính (PDF hoặc DOCX)", "Main document (PDF or DOCX)"),
    "drafts.attachments": ("Tệp đính kèm (phụ lục, bảng tính, bản quét)",
                           "Attachments (annexes, spreadsheets, scans)"),
    "drafts.keep_files": ("Để trống để giữ tệp đã lưu", "leave empty to keep the stored files"),
    "drafts.max_size": ("Mỗi tệp tối đa", "Each file at most"),
    "drafts.save": ("Lưu dự thảo", "Save the draft"),
    "drafts.state": ("Trạng thái", "State"),
    "drafts.author": ("Người soạn", "Written by"),
    "drafts.updated": ("Cập nhật", "Updated"),
    "drafts.approved_by": ("Người duyệt", "Approved by"),
    "drafts.signed_by": ("Ký số (bước 1)", "Signed (step 1)"),
    "drafts.signed_note": ("văn thư phát hành sẽ thêm số và chữ ký số của cơ quan",
                           "issuing adds the number and the organisation's signature"),
    "drafts.files": ("Tệp", "Files"),
    "drafts.main": ("văn bản chính", "main document"),
    "drafts.submit": ("Trình duyệt", "Submit for approval"),
    "drafts.approve": ("Duyệt", "Approve"),
    "drafts.return": ("Trả lại", "Return"),
    "drafts.return_note": ("Lý do trả lại", "Reason for returning"),
    "drafts.returned_with": ("Lãnh đạo đã trả lại:", "Returned by the leader:"),
    "drafts.issue": ("Phát hành (lấy số, ký số, gửi)", "Issue (number, sign, send)"),
    "drafts.number": ("Số (để trống: số tiếp theo)", "Number (blank: the next one)"),
    "drafts.document_id": ("Mã văn bản", "DocumentId"),
    "drafts.see_sent": ("Xem trong văn bản đi", "See it among the sent documents"),
    "drafts.issued": ("Đã phát hành số", "Issued as number"),
})

WRITERS = (staff.Role.OFFICER, staff.Role.CLERK, staff.Role.LEADER)
STATES = {s.value: s for s in DraftState}


def pick(request: Request) -> Callable[[tuple[str, str]], str]:
    """A (Vietnamese, English) pair in the visitor's language."""
    english = language(request) == "en"
    return lambda pair: pair[1] if english else pair[0]


def _user(request: Request) -> staff.User:
    user: staff.User = request.state.visitor.user
    return user


def _id(request: Request, name: str = "draft_id") -> int | None:
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        return None


@page()
async def drafts_list(request: Request) -> Response:
    office = context(request).office
    state = STATES.get(request.query_params.get("state", ""))
    rows, counts = await call(outgoing.list_drafts, office, state=state, limit=200)
    return render(request, "drafts_list.html", drafts=rows, counts=counts, state=state,
                  states=list(DraftState), state_name=outgoing.state_name, pick=pick(request),
                  writer=_user(request).role in WRITERS)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _draft_form(form: FormData) -> DraftForm:
    return DraftForm(
        doc_type=_text(form, "doc_type"),
        notation=_text(form, "notation"),
        subject=_text(form, "subject"),
        recipients=[v for v in form.getlist("recipients") if isinstance(v, str)],
        priority=_text(form, "priority") or "0",
        due_date=_text(form, "due_date"),
        place=_text(form, "place"),
        signer_competence=_text(form, "signer_competence"),
        signer_position=_text(form, "signer_position"),
        signer_name=_text(form, "signer_name"),
    )


async def _upload(value: object, limit: int) -> Upload | None:
    """A chosen file read up to the bound (one byte more says it is larger); None for a
    file input left empty."""
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read(limit + 1)
    return Upload(value.filename, data[:limit], truncated=len(data) > limit)


def _limit(request: Request) -> int:
    return context(request).settings.upload_max_bytes


async def _form_page(request: Request, values: dict[str, Any], *, draft_id: int | None = None,
                     error: EdocError | None = None) -> Response:
    office = context(request).office
    query = request.query_params.get("q", "")
    choices = await call(outgoing.recipient_choices, office, query)
    chosen = list(values.get("recipients", []))
    names = dict(await call(outgoing.recipient_choices, office, "", 10_000))
    shown = [(o, names.get(o, o)) for o in chosen] + [c for c in choices if c[0] not in chosen]
    lang = language(request)
    return render(
        request,
        "draft_form.html",
        status_code=400 if error else 200,
        values=values,
        draft_id=draft_id,
        choices=shown,
        query=query,
        types=outgoing.DOCUMENT_TYPES,
        priorities=outgoing.PRIORITIES,
        pick=pick(request),
        max_mb=context(request).settings.upload_max_mb,
        error=_i18n.both(error.vi, error.en, lang) if error else None,
        error_step=error.step if error else None,
    )


_DEFAULTS: dict[str, Any] = {
    "doc_type": "cong-van", "notation": "", "subject": "", "recipients": [], "priority": 0,
    "due_date": "", "place": "", "signer_competence": "TM. ỦY BAN NHÂN DÂN",
    "signer_position": "", "signer_name": "",
}


def _values(form: DraftForm) -> dict[str, Any]:
    return {**_DEFAULTS, **{k: getattr(form, k) for k in _DEFAULTS}}


@page(*WRITERS)
async def new_draft_form(request: Request) -> Response:
    return await _form_page(request, dict(_DEFAULTS))


@page(*WRITERS)
async def new_draft(request: Request) -> Response:
    form = await form_of(request)
    fields = _draft_form(form)
    limit = _limit(request)
    try:
        main = await _upload(form.get("main_file"), limit)
        attachments = [u for v in form.getlist("attachments") if (u := await _upload(v, limit))]
        draft_id = await call(outgoing.create_draft, context(request).office, _user(request),
                              fields, main, attachments, max_file_bytes=limit)
    except EdocError as exc:
        return await _form_page(request, _values(fields), error=exc)
    return RedirectResponse(f"/drafts/{draft_id}", 303)


@page(*WRITERS)
async def edit_draft_form(request: Request) -> Response:
    draft_id = _id(request)
    if draft_id is None:
        return not_found(request)
    details = await call(outgoing.draft_details, context(request).office, draft_id)
    values = {**_DEFAULTS, **{k: v for k, v in details.fields.items() if k in _DEFAULTS}}
    return await _form_page(request, values, draft_id=draft_id)


@page(*WRITERS)
async def edit_draft(request: Request) -> Response:
    draft_id = _id(request)
    if draft_id is None:
        return not_found(request)
    form = await form_of(request)
    fields = _draft_form(form)
    limit = _limit(request)
    try:
        main = await _upload(form.get("main_file"), limit)
        attachments = [u for v in form.getlist("attachments") if (u := await _upload(v, limit))]
        await call(outgoing.update_draft, context(request).office, _user(request), draft_id,
                   fields, main, attachments or None, max_file_bytes=limit)
    except EdocError as exc:
        return await _form_page(request, _values(fields), draft_id=draft_id, error=exc)
    return RedirectResponse(f"/drafts/{draft_id}", 303)


@page()
async def draft_detail(request: Request) -> Response:
    draft_id = _id(request)
    if draft_id is None:
        return not_found(request)
    details = await call(outgoing.draft_details, context(request).office, draft_id)
    return render(request, "draft_detail.html", draft=details, pick=pick(request),
                  types=outgoing.DOCUMENT_TYPES, priorities=outgoing.PRIORITIES,
                  DraftState=DraftState, role=_user(request).role, writers=WRITERS,
                  done=request.query_params.get("done"))


def _action(func: Callable[..., Any], *roles: staff.Role,
            **fields: str) -> Callable[[Request], Any]:
    """A POST that runs ``func(office, user, draft_id, **form fields)`` and goes back to the
    draft's page."""

    @page(*roles)
    async def act(request: Request) -> Response:
        draft_id = _id(request)
        if draft_id is None:
            return not_found(request)
        form = await form_of(request)
        given: dict[str, Any] = {k: _text(form, name) for k, name in fields.items()}
        if "number" in given:
            text = given["number"].strip()
            if text and not text.isdigit():
                raise outgoing.DraftError(f"Số '{text}' không phải số nguyên dương",
                                          f"number '{text}' is not a positive whole number",
                                          step="draft.number")
            given["number"] = int(text) if text else None
        await call(func, context(request).office, _user(request), draft_id, **given)
        return RedirectResponse(f"/drafts/{draft_id}?done={quote(func.__name__)}", 303)

    return act


@page()
async def draft_file(request: Request) -> Response:
    draft_id, position = _id(request), _id(request, "position")
    if draft_id is None or position is None:
        return not_found(request)
    name, content_type, data = await call(outgoing.draft_file, context(request).office,
                                          draft_id, position)
    disposition = "inline" if content_type == "application/pdf" else "attachment"
    return Response(data, media_type=content_type, headers={
        "content-disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
    })


routes: list[BaseRoute] = [
    Route("/drafts", drafts_list, methods=["GET"]),
    Route("/drafts/new", new_draft_form, methods=["GET"]),
    Route("/drafts/new", new_draft, methods=["POST"]),
    Route("/drafts/{draft_id:int}", draft_detail, methods=["GET"]),
    Route("/drafts/{draft_id:int}/edit", edit_draft_form, methods=["GET"]),
    Route("/drafts/{draft_id:int}/edit", edit_draft, methods=["POST"]),
    Route("/drafts/{draft_id:int}/submit", _action(outgoing.submit_draft, *WRITERS),
          methods=["POST"]),
    Route("/drafts/{draft_id:int}/approve", _action(outgoing.approve_draft, staff.Role.LEADER),
          methods=["POST"]),
    Route("/drafts/{draft_id:int}/return",
          _action(outgoing.return_draft, staff.Role.LEADER, note="note"), methods=["POST"]),
    Route("/drafts/{draft_id:int}/issue",
          _action(outgoing.issue_draft, staff.Role.CLERK, number="number"), methods=["POST"]),
    Route("/drafts/{draft_id:int}/files/{position:int}", draft_file, methods=["GET"]),
]
