"""What every page shares: who is signed in, what they may do, CSRF, headers, rendering.

A page is an async endpoint wrapped by :func:`page`, which names the roles allowed: an
anonymous visitor is sent to the sign-in form (or refused, for a POST), a user of another
role or of another office is refused, and every POST must carry the session's CSRF token.
Database work runs in Starlette's thread pool (the office API is synchronous), so one slow
query never holds the event loop. Errors a person can act on (:class:`EdocError`) are shown
on the page in both languages with the status the case deserves; anything else is logged
and shown as a plain failure, never as a traceback.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import office as steps
from ..config import WebSettings
from ..errors import EdocError
from ..office import staff
from . import _i18n

log = logging.getLogger("edoc.web")

SESSION_COOKIE = "edoc_session"
LOGIN_CSRF_COOKIE = "edoc_login_csrf"
LANGUAGE_COOKIE = "edoc_lang"
HERE = Path(__file__).parent

_P = ParamSpec("_P")
_T = TypeVar("_T")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class WebContext:
    """What the pages work with: the office (its store, signer, identity) and the settings.

    ``hooks`` add values to every page (the notification badge): each takes the request
    and the signed-in user and returns names for the templates.
    """

    office: steps.Office
    settings: WebSettings = field(default_factory=WebSettings)
    hooks: list[Callable[[Request, staff.User], dict[str, Any]]] = field(default_factory=list)

    @property
    def office_id(self) -> str:
        return self.office.office_id


@dataclass(frozen=True)
class Visitor:
    """The signed-in user of a request, with the session's CSRF token."""

    user: staff.User
    csrf_token: str


async def call(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run a (synchronous, database-bound) office call off the event loop."""
    return await run_in_threadpool(func, *args, **kwargs)


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.context
    return ctx


def language(request: Request) -> str:
    return _i18n.pick(request.cookies.get(LANGUAGE_COOKIE))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


TEMPLATES = Jinja2Templates(env=_environment())


def render(
    request: Request, template: str, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """A page in the visitor's language, with who they are and the CSRF token at hand."""
    lang = language(request)
    visitor: Visitor | None = getattr(request.state, "visitor", None)
    extra: dict[str, Any] = getattr(request.state, "page_extra", {})
    names = {
        "request": request,
        "lang": lang,
        "t": functools.partial(_i18n.word, language=lang),
        "both": functools.partial(_i18n.both, language=lang),
        "visitor": visitor,
        "user": visitor.user if visitor else None,
        "csrf_token": visitor.csrf_token if visitor else "",
        "office_name": context(request).office.identity.organ_name,
        "Role": staff.Role,
        "cert_warnings": _cert_warnings(request, visitor),
        **extra,
        **values,
    }
    response = TEMPLATES.TemplateResponse(request, template, names, status_code=status_code)
    return response


def _cert_warnings(request: Request, visitor: Visitor | None) -> list[tuple[str, str]]:
    """Certificates expiring soon, for the văn thư and the quản trị (who can act on it):
    (Vietnamese, English) pairs for the banner; nothing for others or when it fails."""
    if visitor is None or visitor.user.role not in (staff.Role.CLERK, staff.Role.ADMIN):
        return []
    try:
        return [(w.vi, w.en) for w in steps.expiry_warnings(context(request).office)]
    except Exception:  # a banner must never break a page
        log.exception("certificate expiry not read")
        return []


def error_page(
    request: Request, status: int, vi: str, en: str, *, step: str | None = None
) -> HTMLResponse:
    """A refusal or failure the visitor can read (never a traceback)."""
    return render(
        request,
        "error.html",
        status_code=status,
        message=_i18n.both(vi, en, language(request)),
        step=step,
    )


def _word_pair(key: str) -> tuple[str, str]:
    return _i18n.WORDS[key]


def forbidden(request: Request) -> HTMLResponse:
    return error_page(request, 403, *_word_pair("error.forbidden"))


def not_found(request: Request) -> HTMLResponse:
    return error_page(request, 404, *_word_pair("error.not_found"))


def failed(request: Request, exc: EdocError, status: int = 400) -> HTMLResponse:
    return error_page(request, status, exc.vi, exc.en, step=exc.step)


async def signed_in(request: Request) -> Visitor | None:
    """The visitor's session, or None; a session of another office counts as none."""
    cached: Visitor | None = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached
    found = await call(staff.session_user, context(request).office.db,
                       request.cookies.get(SESSION_COOKIE))
    if found is None:
        return None
    user, csrf = found
    if user.office_id != context(request).office_id:
        return None
    visitor = Visitor(user, csrf)
    request.state.visitor = visitor
    return visitor


def same_origin(request: Request) -> bool:
    """Whether a state-changing request came from our own pages (Origin, else Referer).

    Browsers send Origin with every cross-site POST; a request without either header (a
    script, curl) is left to the CSRF token alone.
    """
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


async def form_of(request: Request) -> FormData:
    """The request's form, parsed once (multipart uploads bounded by the settings)."""
    cached: FormData | None = getattr(request.state, "form", None)
    if cached is None:
        limit = context(request).settings.upload_max_bytes
        cached = await request.form(max_files=100, max_fields=1000, max_part_size=limit)
        request.state.form = cached
    return cached


def _token_ok(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


async def csrf_ok(request: Request, expected: str) -> bool:
    if not same_origin(request):
        return False
    given = request.headers.get("x-csrf-token")
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await form_of(request)).get("csrf_token")
            given = value if isinstance(value, str) else None
    return _token_ok(given, expected)


async def _hooks(request: Request, user: staff.User) -> dict[str, Any]:
    """What the page hooks add to a page (the badge), computed off the event loop; a hook
    that fails is logged and left out: a badge must never take the page down."""
    extra: dict[str, Any] = {}
    for hook in context(request).hooks:
        try:
            extra.update(await call(hook, request, user))
        except Exception:
            log.exception("page hook failed")
    return extra


def page(*roles: staff.Role) -> Callable[[Endpoint], Endpoint]:
    """Guard an endpoint: signed in, one of ``roles`` (any role when none is named), and a
    valid CSRF token on anything but GET and HEAD."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            visitor = await signed_in(request)
            if visitor is None:
                if request.method in ("GET", "HEAD"):
                    query = f"?{request.url.query}" if request.url.query else ""
                    target = request.url.path + query
                    return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
                return error_page(
                    request, 401, "Bạn cần đăng nhập lại", "you need to sign in again"
                )
            if roles and visitor.user.role not in roles:
                return forbidden(request)
            if request.method not in ("GET", "HEAD") and not await csrf_ok(
                request, visitor.csrf_token
            ):
                return error_page(request, 403, *_word_pair("error.csrf"))
            if request.method == "GET":
                request.state.page_extra = await _hooks(request, visitor.user)
            try:
                return await endpoint(request)
            except EdocError as exc:
                return failed(request, exc)

        return guarded

    return wrap


def secure_cookies(request: Request) -> bool:
    configured = context(request).settings.secure_cookies
    return request.url.scheme == "https" if configured is None else configured


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of ours only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


#: Content Security Policy: our own scripts, styles, frames and images only; nothing
#: inline, nothing framing us.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; object-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the security headers to every response (pages, files, errors alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in present]
                if not any(name == b"cache-control" for name in present):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class _TooLargeError(Exception):
    pass


_TOO_LARGE = (
    "<!doctype html><meta charset=utf-8><title>413</title><p>Yêu cầu quá lớn: tổng dung lượng "
    "các tệp gửi lên vượt giới hạn {mb:g} MiB. (The request is too large: the files sent "
    "together exceed {mb:g} MiB.)</p><p><a href=\"/\">Quay lại / Back</a></p>"
)


class BodyLimit:
    """Refuses a request whose body is larger than ``limit`` bytes: at once when its
    Content-Length says so, else as soon as the bytes read pass it (413, in both
    languages), before the form parser has written the excess anywhere."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLargeError
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = _TOO_LARGE.format(mb=self.limit / 1024 / 1024).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
