"""The sent list (văn bản đi): each document's recipients and their statuses, what is
stuck and why in words, and the resend button for a failed one."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import office as steps
from ..office import lifecycle, outgoing, staff
from ..office.outgoing import OutboxState
from ..vntime import to_vn_time
from . import _i18n
from ._app import call, context, not_found, page, render
from .drafts import pick

_i18n.add({
    "outgoing.title": ("Văn bản đi", "Outgoing documents"),
    "outgoing.none": ("Chưa có văn bản đi", "nothing sent yet"),
    "outgoing.all": ("Tất cả", "All"),
    "outgoing.document": ("Văn bản", "Document"),
    "outgoing.recipients": ("Nơi nhận và trạng thái", "Recipients and their statuses"),
    "outgoing.state": ("Gửi", "Sending"),
    "outgoing.queued_at": ("Vào hàng đợi", "Queued"),
    "outgoing.stuck": ("Vướng", "Stuck"),
    "outgoing.resend": ("Gửi lại", "Resend"),
    "outgoing.resent": ("Đã xếp lại vào hàng đợi gửi", "queued again for sending"),
    "outgoing.history": ("Lịch sử trạng thái", "Status history"),
    "outgoing.history_none": ("Chưa có trạng thái nào", "no status yet"),
    "outgoing.when": ("Thời điểm", "When"),
    "outgoing.from": ("Từ", "From"),
    "outgoing.status": ("Trạng thái", "Status"),
    "outgoing.note": ("Ghi chú", "Note"),
    "outgoing.reason": ("Lý do", "Reason"),
    "outgoing.axis_doc_id": ("Mã trên trục", "Axis DocId"),
    "outgoing.attempts": ("Số lần thử", "Attempts"),
    "outgoing.last_error": ("Lỗi gần nhất", "Last error"),
    "outgoing.drafts": ("Dự thảo", "Drafts"),
})

STATES = {s.value: s for s in OutboxState}


def when(value: object) -> str:
    """A stored time in Vietnam time, as a clerk reads it."""
    if not isinstance(value, dt.datetime):
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return f"{to_vn_time(value):%d/%m/%Y %H:%M}"


def _user(request: Request) -> staff.User:
    user: staff.User = request.state.visitor.user
    return user


@page()
async def outgoing_list(request: Request) -> Response:
    state = STATES.get(request.query_params.get("state", ""))
    try:
        number = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        number = 1
    size = context(request).settings.page_size
    sent = await call(outgoing.sent_list, context(request).office, _user(request), state=state,
                      page=number, page_size=size)
    marks = await call(lifecycle.marks_sent, context(request).office,
                       [(i.summary.id, i.summary.document_id) for i in sent.items])
    return render(request, "outgoing_list.html", sent=sent, state=state, marks=marks,
                  states=list(OutboxState), pick=pick(request), when=when,
                  state_name=outgoing.outbox_state_name,
                  may_resend=_user(request).role in RESENDERS)


@page()
async def outgoing_detail(request: Request) -> Response:
    try:
        outbox_id = int(request.path_params["outbox_id"])
    except (KeyError, ValueError):
        return not_found(request)
    office = context(request).office
    details = await call(outgoing.sent_details, office, _user(request), outbox_id)
    document_id = details.item.summary.document_id
    known = await call(steps.document_details, office.db, office.office_id, document_id)
    chain = await call(lifecycle.chain_sent, office, document_id)
    return render(request, "outgoing_detail.html", details=details, item=details.item,
                  chain=chain, max_mb=context(request).settings.upload_max_mb,
                  pick=pick(request), when=when, may_resend=_user(request).role in RESENDERS,
                  done=request.query_params.get("done"), changes=known.changes,
                  may_change=_user(request).role in RESENDERS
                  and details.item.summary.state is OutboxState.SENT
                  and not any(c.change in ("revoked", "replaced") and c.document_id
                              == document_id for c in known.changes))


RESENDERS = (staff.Role.CLERK, staff.Role.LEADER)


@page(*RESENDERS)
async def resend(request: Request) -> Response:
    outbox_id = int(request.path_params["outbox_id"])
    await call(outgoing.resend, context(request).office, _user(request), outbox_id)
    return RedirectResponse(f"/outgoing/{outbox_id}?done=resend", 303)


routes: list[BaseRoute] = [
    Route("/outgoing", outgoing_list, methods=["GET"]),
    Route("/outgoing/{outbox_id:int}", outgoing_detail, methods=["GET"]),
    Route("/outgoing/{outbox_id:int}/resend", resend, methods=["POST"]),
]
