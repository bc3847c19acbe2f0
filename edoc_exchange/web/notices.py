"""The notification badge on every page and the notices list (new and overdue documents).

The badge is a page hook (:attr:`WebContext.hooks`): two COUNT queries per page, for a
signed-in user only. Visiting the notices list marks what it shows as seen.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..office import notices, staff
from . import _i18n
from ._app import call, context, page, render

_i18n.add(
    {
        "notices.title": ("Thông báo", "Notifications"),
        "notices.new": ("Văn bản mới", "New documents"),
        "notices.overdue": ("Văn bản quá hạn", "Overdue documents"),
    }
)


def badge(request: Request, user: staff.User) -> dict[str, Any]:
    """The badge's number for the signed-in user (a page hook)."""
    return {"badge": notices.badge(context(request).office, user)}


@page()
async def notices_page(request: Request) -> Response:
    office = context(request).office
    user = request.state.visitor.user
    new = await call(notices.new_since, office, user)
    late = await call(notices.overdue, office, user)
    # Seen from now on; the visitor object of this request still holds the old seen_at,
    # so this page still marks what is new.
    await call(staff.mark_seen, office.db, user, now=office.clock())
    response = render(request, "notices.html", new=new, late=late)
    return response


routes: list[BaseRoute] = [Route("/notices", notices_page, methods=["GET"])]
