"""After a document has gone out: revoke it (thu hồi), update it (cập nhật), replace it by
a new version (thay thế, new files uploaded as in the draft form) or ask it back (13) from
its page; and, on the receiving side, answer a take-back asked of a received document:
agree (15) or refuse (16) with a reason.

The văn thư and the lãnh đạo act; the office functions (``office.lifecycle``) check that
the office really sent the document and that it is not already revoked or replaced, check
each file as a draft's files are checked, and refuse with a message otherwise (nothing is
queued). The chain of what happened shows on the sent and the received document's pages.
"""

from __future__ import annotations

import datetime as dt

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import edxml
from ..office import lifecycle, outgoing, staff
from . import _i18n
from ._app import call, context, form_of, not_found, page

_S = edxml.StatusCode

_i18n.add({
    "lifecycle.revoke": ("Thu hồi văn bản", "Revoke the document"),
    "lifecycle.take_back": (
        f"{_S.TAKE_BACK_REQUESTED.vi} ({_S.TAKE_BACK_REQUESTED.value})",
        f"Ask it back ({_S.TAKE_BACK_REQUESTED.value})",
    ),
    "lifecycle.reason": ("Lý do", "Reason"),
    "lifecycle.revoke_confirm": (
        "Thu hồi văn bản này? Mọi nơi nhận sẽ được báo.",
        "Revoke this document? Every recipient will be told.",
    ),
    "lifecycle.done.revoke": ("Đã xếp hàng thư thu hồi", "the revoke is queued"),
    "lifecycle.done.take_back": ("Đã xếp hàng yêu cầu lấy lại", "the take-back is queued"),
    "lifecycle.chain": ("Thu hồi, cập nhật, thay thế, lấy lại", "Revoked, updated, replaced"),
    "lifecycle.revoked": ("Thu hồi", "Revoked"),
    "lifecycle.updated": ("Cập nhật", "Updated"),
    "lifecycle.replaced": ("Thay thế", "Replaced"),
    "lifecycle.takeback": ("Lấy lại", "Taken back"),
    "lifecycle.update": ("Cập nhật", "Update"),
    "lifecycle.replace": ("Thay thế", "Replace"),
    "lifecycle.update_help": (
        "Gửi lại thông tin mới của văn bản (cùng mã văn bản); để trống ô nào thì giữ nguyên; "
        "chọn tệp mới để thay các tệp đã gửi",
        "send the document's new information (same DocumentId); what is left empty stays; "
        "choose new files to replace the files sent",
    ),
    "lifecycle.replace_help": (
        "Phát hành văn bản mới (số mới) thay thế văn bản này, với các tệp mới",
        "issue a new document (a new number) that replaces this one, with new files",
    ),
    "lifecycle.subject": ("Trích yếu mới", "New subject"),
    "lifecycle.content": ("Nội dung", "Content"),
    "lifecycle.due": ("Hạn xử lý mới", "New due date"),
    "lifecycle.main_file": ("Văn bản chính (PDF hoặc DOCX)", "Main file (PDF or DOCX)"),
    "lifecycle.attachments": ("Tệp đính kèm", "Attachments"),
    "lifecycle.done.update": ("Đã xếp hàng thư cập nhật", "the update is queued"),
    "lifecycle.done.replace": ("Đã xếp hàng văn bản thay thế", "the replacement is queued"),
    "lifecycle.see": ("xem", "see"),
    "lifecycle.waiting": (
        f"Nơi gửi yêu cầu lấy lại văn bản này ({_S.TAKE_BACK_REQUESTED.value})",
        f"The sender asks this document back ({_S.TAKE_BACK_REQUESTED.value})",
    ),
    "lifecycle.accept": (
        f"{_S.CHANGE_ACCEPTED.vi} ({_S.CHANGE_ACCEPTED.value})",
        f"Agree ({_S.CHANGE_ACCEPTED.value})",
    ),
    "lifecycle.refuse": (
        f"{_S.CHANGE_REFUSED.vi} ({_S.CHANGE_REFUSED.value})",
        f"Refuse ({_S.CHANGE_REFUSED.value})",
    ),
    "lifecycle.note": (
        "Ghi chú / lý do (bắt buộc khi từ chối)", "Note / reason (required to refuse)"
    ),
    "lifecycle.done.answer": ("Đã xếp hàng trả lời nơi gửi", "the answer is queued for the sender"),
})

ACTORS = (staff.Role.CLERK, staff.Role.LEADER)


async def _act(request: Request, action: str) -> Response:
    outbox_id = int(request.path_params["outbox_id"])
    user: staff.User = request.state.visitor.user
    office = context(request).office
    details = await call(outgoing.sent_details, office, user, outbox_id)
    form = await form_of(request)
    reason = form.get("reason")
    text = reason if isinstance(reason, str) else ""
    document_id = details.item.summary.document_id
    if action == "revoke":
        await call(lifecycle.revoke, office, document_id, text, actor=user.username)
    else:
        await call(lifecycle.take_back, office, document_id, text, actor=user.username)
    return RedirectResponse(f"/outgoing/{outbox_id}?done={action}", 303)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _upload(value: object, limit: int) -> outgoing.Upload | None:
    """A chosen file read up to the bound (one byte more says it is larger); None for a
    file input left empty (as the draft form reads them)."""
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read(limit + 1)
    return outgoing.Upload(value.filename, data[:limit], truncated=len(data) > limit)


async def _files(request: Request, form: FormData) -> list[outgoing.Upload]:
    """The main file first, then the attachments; empty when no main file was chosen."""
    limit = context(request).settings.upload_max_bytes
    main = await _upload(form.get("main_file"), limit)
    attachments = [u for v in form.getlist("attachments") if (u := await _upload(v, limit))]
    if main is None and attachments:
        raise lifecycle.LifecycleError(
            "Chọn cả văn bản chính khi gửi tệp đính kèm mới",
            "choose the main file too when sending new attachments",
            step="draft.main_file",
        )
    return [main, *attachments] if main is not None else []


async def _sent(request: Request) -> tuple[int, str, staff.User]:
    outbox_id = int(request.path_params["outbox_id"])
    user: staff.User = request.state.visitor.user
    details = await call(outgoing.sent_details, context(request).office, user, outbox_id)
    return outbox_id, details.item.summary.document_id, user


@page(*ACTORS)
async def update(request: Request) -> Response:
    outbox_id, document_id, user = await _sent(request)
    form = await form_of(request)
    files = await _files(request, form)
    due = _text(form, "due_date")
    try:
        due_date = dt.date.fromisoformat(due) if due else None
    except ValueError:
        raise lifecycle.LifecycleError(
            f"Hạn xử lý '{due[:20]}' không phải ngày (yyyy-mm-dd)",
            f"due date '{due[:20]}' is not a date (yyyy-mm-dd)",
            step="lifecycle.due_date",
        ) from None
    limit = context(request).settings.upload_max_bytes
    await call(
        lifecycle.update, context(request).office, document_id, _text(form, "reason"),
        subject=_text(form, "subject") or None, content=_text(form, "content") or None,
        due_date=due_date, files=files, actor=user.username, max_file_bytes=limit,
    )
    return RedirectResponse(f"/outgoing/{outbox_id}?done=update", 303)


@page(*ACTORS)
async def replace(request: Request) -> Response:
    outbox_id, document_id, user = await _sent(request)
    form = await form_of(request)
    files = await _files(request, form)
    if not files:
        raise lifecycle.LifecycleError(
            "Chưa chọn văn bản chính của bản thay thế (PDF hoặc DOCX)",
            "the replacement's main file (PDF or DOCX) was not chosen",
            step="draft.main_file",
        )
    limit = context(request).settings.upload_max_bytes
    await call(
        lifecycle.replace_with_files, context(request).office, document_id, files[0],
        files[1:], reason=_text(form, "reason"), subject=_text(form, "subject") or None,
        due_date=_text(form, "due_date") or None, actor=user.username, max_file_bytes=limit,
    )
    return RedirectResponse(f"/outgoing/{outbox_id}?done=replace", 303)


@page(*ACTORS)
async def answer(request: Request) -> Response:
    raw = request.path_params.get("inbox_id", "")
    if not raw.isdigit() or len(raw) > 18:
        return not_found(request)
    inbox_id = int(raw)
    user: staff.User = request.state.visitor.user
    form = await form_of(request)
    choice = _text(form, "answer")
    if choice not in ("accept", "refuse"):
        raise lifecycle.LifecycleError(
            "Chọn đồng ý hoặc từ chối", "choose to agree or to refuse",
            step="lifecycle.answer_take_back",
        )
    await call(
        lifecycle.answer_take_back, context(request).office, inbox_id, choice == "accept",
        note=_text(form, "note") or None, actor=user.username,
    )
    return RedirectResponse(f"/incoming/{inbox_id}?answered=1", 303)


@page(*ACTORS)
async def revoke(request: Request) -> Response:
    return await _act(request, "revoke")


@page(*ACTORS)
async def take_back(request: Request) -> Response:
    return await _act(request, "take_back")


routes: list[BaseRoute] = [
    Route("/outgoing/{outbox_id:int}/revoke", revoke, methods=["POST"]),
    Route("/outgoing/{outbox_id:int}/take-back", take_back, methods=["POST"]),
    Route("/outgoing/{outbox_id:int}/update", update, methods=["POST"]),
    Route("/outgoing/{outbox_id:int}/replace", replace, methods=["POST"]),
    Route("/incoming/{inbox_id}/take-back-answer", answer, methods=["POST"]),
]
