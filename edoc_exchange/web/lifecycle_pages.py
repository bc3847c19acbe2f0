"""After a document has gone out: revoke it (thu hồi) or ask it back (13) from its page.

The văn thư and the lãnh đạo act; the office functions (``office.lifecycle``) check that
the office really sent the document and that it is not already revoked or replaced, and
refuse with a message otherwise (nothing is queued). The chain of what happened shows on
the sent document's page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import edxml
from ..office import lifecycle, outgoing, staff
from . import _i18n
from ._app import call, context, form_of, page

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


@page(*ACTORS)
async def revoke(request: Request) -> Response:
    return await _act(request, "revoke")


@page(*ACTORS)
async def take_back(request: Request) -> Response:
    return await _act(request, "take_back")


routes: list[BaseRoute] = [
    Route("/outgoing/{outbox_id:int}/revoke", revoke, methods=["POST"]),
    Route("/outgoing/{outbox_id:int}/take-back", take_back, methods=["POST"]),
]
