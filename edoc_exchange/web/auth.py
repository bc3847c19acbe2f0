"""Signing in and out, and the language switch."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..office import staff
from . import _i18n
from ._app import (
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    _token_ok,
    call,
    context,
    error_page,
    form_of,
    new_login_token,
    page,
    render,
    safe_next,
    same_origin,
    secure_cookies,
    signed_in,
)


def _login_form(request: Request, status: int = 200, message: str | None = None) -> Response:
    token = new_login_token()
    response = render(
        request,
        "login.html",
        status_code=status,
        login_token=token,
        next=safe_next(request.query_params.get("next")),
        message=message,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/login",
        max_age=3600,
    )
    return response


async def login_form(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    return _login_form(request)


async def login(request: Request) -> Response:
    """Check the form's token against its cookie (a page of another site cannot sign a
    visitor in as someone else), then the name and password."""
    form = await form_of(request)
    token = form.get("login_token")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not same_origin(request) or not isinstance(token, str) or not expected or not _token_ok(
        token, expected
    ):
        return error_page(request, 403, *_i18n.WORDS["error.csrf"])
    username = form.get("username")
    password = form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _login_form(request, 400, _i18n.both(
            "Nhập tên đăng nhập và mật khẩu", "enter a user name and a password",
            _i18n.pick(request.cookies.get(LANGUAGE_COOKIE)),
        ))
    address = request.client.host if request.client else None
    try:
        opened = await call(
            staff.sign_in, context(request).office.db, username, password, address=address
        )
    except staff.SignInRefusedError as exc:
        lang = _i18n.pick(request.cookies.get(LANGUAGE_COOKIE))
        response = _login_form(request, 429 if exc.retry_after else 401,
                               _i18n.both(exc.vi, exc.en, lang))
        if exc.retry_after:
            response.headers["retry-after"] = str(exc.retry_after)
        return response
    if opened.user.office_id != context(request).office_id:
        await call(staff.sign_out, context(request).office.db, opened.token)
        return error_page(request, 403, *_i18n.WORDS["error.forbidden"])
    target = form.get("next")
    response = RedirectResponse(safe_next(target if isinstance(target, str) else None), 303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@page()
async def logout(request: Request) -> Response:
    await call(staff.sign_out, context(request).office.db, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def switch_language(request: Request) -> Response:
    """Set the language cookie and go back to where the visitor was (on our site)."""
    lang = _i18n.pick(request.query_params.get("to"))
    back = request.headers.get("referer", "/")
    path = back.split(request.url.netloc, 1)[-1] if request.url.netloc in back else "/"
    response = RedirectResponse(safe_next(path), 303)
    response.set_cookie(
        LANGUAGE_COOKIE, lang, samesite="lax", secure=secure_cookies(request), path="/",
        max_age=365 * 24 * 3600,
    )
    return response


@page()
async def home(request: Request) -> Response:
    return RedirectResponse("/incoming", 303)


routes: list[BaseRoute] = [
    Route("/", home),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/lang", switch_language, methods=["GET"]),
]
