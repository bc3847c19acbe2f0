"""The office staff's pages: incoming and outgoing documents, drafts, figures, the log.

Served by ``edoc web`` or by the daemon when ``[web] enabled``; built on Starlette with
server-side Jinja2 templates and plain forms (no build step; every asset is served from
here, for offices that may be offline). The pages call :mod:`edoc_exchange.office` and
nothing below it: no SQL here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from .. import office as steps
from ..config import WebSettings
from . import (
    audit_pages,
    auth,
    drafts,
    egov,
    incoming,
    lifecycle_pages,
    notices,
    outgoing,
    users,
    yaml_drafts,
)
from ._app import HERE, BodyLimit, SecurityHeaders, WebContext, error_page, not_found

__all__ = ["WebContext", "create_app"]

log = logging.getLogger("edoc.web")


class _Static(StaticFiles):
    """The stylesheet and scripts, cached a day by the browser (a weak link pays once)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = "public, max-age=86400"
        return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found(request)
    return error_page(request, exc.status_code, "Yêu cầu không hợp lệ", "the request is not valid")


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("page %s failed", request.url.path, exc_info=exc)
    return error_page(
        request,
        500,
        "Có lỗi khi xử lý yêu cầu; việc đã lưu không bị mất. Thử lại hoặc báo quản trị",
        "the request failed; nothing stored was lost. Try again or tell the administrator",
    )


def create_app(
    office: steps.Office,
    settings: WebSettings | None = None,
    *,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The pages of ``office`` as an ASGI application."""
    context = WebContext(office, settings or WebSettings())
    context.hooks.append(notices.badge)
    routes: list[BaseRoute] = [
        *auth.routes,
        *incoming.routes,
        *notices.routes,
        *drafts.routes,
        *yaml_drafts.routes,
        *outgoing.routes,
        *lifecycle_pages.routes,
        *egov.routes,
        *audit_pages.routes,
        *users.routes,
        *extra_routes,
        Mount("/static", _Static(directory=Path(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodyLimit, limit=int(context.settings.request_max_mb * 1024 * 1024)),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )
    app.state.context = context
    return app
