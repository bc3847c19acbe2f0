"""Signing in to the pages, over real HTTP: sessions, CSRF, rate limits, headers, roles.

The pages are served by uvicorn on 127.0.0.1 for an office wired to a real local axis and
a real SQLite store; every request below goes through the network stack as a browser's.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from web_fixtures import (
    PASSWORD,
    add_staff,
    hidden_token,
    pages,  # noqa: F401  (fixture)
    signed_in_client,
)

from edoc_exchange import audit
from edoc_exchange.office import staff
from edoc_exchange.store import StoreError
from edoc_exchange.web import create_app
from edoc_exchange.web._app import CSP, page
from edoc_exchange.web.serve import PagesServer


def _entries(ex: Exchange) -> list[audit.AuditEntry]:
    with ex.district.db.read() as conn:
        return list(audit.entries(conn, ex.district.office_id))


@page(staff.Role.LEADER)
async def _leaders_only(request: Request) -> Response:
    return HTMLResponse("<p>leaders</p>")


@page()
async def _anyone(request: Request) -> Response:
    if request.method == "POST":
        return HTMLResponse("<p>posted</p>")
    return HTMLResponse(
        f'<form method="post"><input type="hidden" name="csrf_token" '
        f'value="{request.state.visitor.csrf_token}"></form>'
    )


EXTRA = [
    Route("/t/leaders", _leaders_only),
    Route("/t/anyone", _anyone, methods=["GET", "POST"]),
]


@pytest.fixture
def served(exchange: Exchange) -> Iterator[tuple[str, Exchange]]:  # noqa: F811
    add_staff(exchange.district)
    server = PagesServer(create_app(exchange.district, extra_routes=EXTRA), "127.0.0.1", 0)
    base = server.start()
    yield base, exchange
    server.stop()


def _login(client: httpx.Client, base: str, username: str, password: str) -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "login_token": hidden_token(form.text, "login_token"),
            "next": "/t/anyone",
        },
        headers={"origin": base},
    )


def test_sign_in_sets_a_strict_session_cookie_and_signs_out(
    served: tuple[str, Exchange],
) -> None:
    base, ex = served
    with httpx.Client(base_url=base, timeout=30) as client:
        answer = _login(client, base, "vanthu", PASSWORD)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/t/anyone"
        cookie = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith("edoc_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        page_ = client.get("/t/anyone")
        assert page_.status_code == 200
        token = hidden_token(page_.text, "csrf_token")
        out = client.post("/logout", data={"csrf_token": token}, headers={"origin": base})
        assert out.status_code == 303
        again = client.get("/t/anyone")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/login?next=")
    events = [e.event for e in _entries(ex)]
    assert "signed_in" in events
    assert "signed_out" in events


def test_wrong_password_and_unknown_name_get_the_same_answer(
    served: tuple[str, Exchange],
) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=30) as client:
        wrong = _login(client, base, "vanthu", "not-the-password")
        unknown = _login(client, base, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
    assert "Sai tên đăng nhập hoặc mật khẩu" in unknown.text
    assert "not-the-password" not in wrong.text


def test_sign_in_is_rate_limited_per_user(served: tuple[str, Exchange]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(5):
            assert _login(client, base, "chutich", "wrong-password-x").status_code == 401
        locked = _login(client, base, "chutich", PASSWORD)  # even the right one now
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "thử lại sau" in locked.text


def test_login_form_token_must_match_its_cookie(served: tuple[str, Exchange]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/login")
        forged = client.post(
            "/login",
            data={"username": "vanthu", "password": PASSWORD, "login_token": "forged"},
            headers={"origin": base},
        )
    assert forged.status_code == 403
    assert "edoc_session" not in forged.headers.get("set-cookie", "")


def test_posts_without_csrf_or_from_another_site_are_refused(
    served: tuple[str, Exchange],
) -> None:
    base, _ = served
    with signed_in_client(base, "vanthu") as client:
        token = hidden_token(client.get("/t/anyone").text, "csrf_token")
        assert client.post("/t/anyone", data={}, headers={"origin": base}).status_code == 403
        wrong = client.post("/t/anyone", data={"csrf_token": token + "x"})
        assert wrong.status_code == 403
        cross = client.post(
            "/t/anyone", data={"csrf_token": token}, headers={"origin": "http://evil.example"}
        )
        assert cross.status_code == 403
        good = client.post("/t/anyone", data={"csrf_token": token}, headers={"origin": base})
        assert good.status_code == 200
        assert "posted" in good.text


def test_roles_and_anonymous_visitors(served: tuple[str, Exchange]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=30) as anonymous:
        assert anonymous.get("/t/leaders").status_code == 303
        assert anonymous.post("/t/anyone", data={"csrf_token": "x"}).status_code == 401
    with signed_in_client(base, "vanthu") as clerk:
        refused = clerk.get("/t/leaders")
        assert refused.status_code == 403
        assert "không được phép" in refused.text
    with signed_in_client(base, "chutich") as leader:
        assert leader.get("/t/leaders").status_code == 200


def test_every_answer_carries_the_security_headers(served: tuple[str, Exchange]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=30) as client:
        for path in ("/login", "/t/leaders", "/static/app.css", "/no-such-page"):
            answer = client.get(path)
            assert answer.headers["content-security-policy"] == CSP, path
            assert "frame-ancestors 'none'" in CSP
            assert "unsafe-inline" not in CSP
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
        assert client.get("/no-such-page").status_code == 404


def test_a_disabled_account_loses_its_session_at_once(served: tuple[str, Exchange]) -> None:
    base, ex = served
    with signed_in_client(base, "chuyenvien") as officer:
        assert officer.get("/t/anyone").status_code == 200
        staff.disable_user(ex.district.db, "chuyenvien", by="test")
        assert officer.get("/t/anyone").status_code == 303
    with httpx.Client(base_url=base, timeout=30) as client:
        assert _login(client, base, "chuyenvien", PASSWORD).status_code == 401


def test_an_account_of_another_office_is_refused(served: tuple[str, Exchange]) -> None:
    base, ex = served
    staff.add_user(
        ex.district.db, ex.commune.office_id, "vanthu-xa", "Văn thư xã", staff.Role.CLERK,
        PASSWORD,
    )
    with httpx.Client(base_url=base, timeout=30) as client:
        answer = _login(client, base, "vanthu-xa", PASSWORD)
        assert answer.status_code == 403
        assert client.get("/t/anyone").status_code == 303


def test_next_never_leaves_the_site(served: tuple[str, Exchange]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=30) as client:
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "username": "vanthu",
                "password": PASSWORD,
                "login_token": hidden_token(form.text, "login_token"),
                "next": "//evil.example/x",
            },
            headers={"origin": base},
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("a", PASSWORD, "users.username"),
        ("Có Dấu", PASSWORD, "users.username"),
        ("../etc", PASSWORD, "users.username"),
        ("vanthu2", "short", "users.password"),
    ],
)
def test_bad_accounts_are_refused_with_the_field(
    exchange: Exchange,  # noqa: F811
    username: str,
    password: str,
    field: str,
) -> None:
    with pytest.raises(staff.StaffError) as caught:
        staff.add_user(
            exchange.district.db, exchange.district.office_id, username, "Tên", staff.Role.CLERK,
            password,
        )
    assert caught.value.step == field
    assert staff.list_users(exchange.district.db, exchange.district.office_id) == []


def test_a_taken_name_is_refused(exchange: Exchange) -> None:  # noqa: F811
    db, office_id = exchange.district.db, exchange.district.office_id
    staff.add_user(db, office_id, "vanthu", "A", staff.Role.CLERK, PASSWORD)
    with pytest.raises(StoreError, match="vanthu"):
        staff.add_user(db, office_id, "VANTHU", "B", staff.Role.LEADER, PASSWORD)
    assert [u.full_name for u in staff.list_users(db, office_id)] == ["A"]


def test_sessions_expire(exchange: Exchange) -> None:  # noqa: F811
    db, office_id = exchange.district.db, exchange.district.office_id
    staff.add_user(db, office_id, "vanthu", "A", staff.Role.CLERK, PASSWORD)
    start = dt.datetime.now(dt.UTC)
    opened = staff.sign_in(db, "vanthu", PASSWORD, address="127.0.0.1", now=start)
    assert staff.session_user(db, opened.token, now=start + dt.timedelta(hours=1)) is not None
    later = start + dt.timedelta(hours=1) + staff.IDLE + dt.timedelta(seconds=1)
    assert staff.session_user(db, opened.token, now=later) is None
    assert staff.session_user(db, "x" * 500) is None


def test_no_password_or_hash_reaches_the_log(
    served: tuple[str, Exchange], caplog: pytest.LogCaptureFixture
) -> None:
    base, ex = served
    with httpx.Client(base_url=base, timeout=30) as client:
        _login(client, base, "vanthu", "a-wrong-secret-value")
        _login(client, base, "vanthu", PASSWORD)
    bodies = [e.body.decode() for e in _entries(ex)]
    for text in [*bodies, caplog.text]:
        assert PASSWORD not in text
        assert "a-wrong-secret-value" not in text
        assert "$argon2" not in text


def test_cookies_are_secure_over_tls(
    exchange: Exchange, tmp_path: Path, pages: Callable[..., str]  # noqa: F811
) -> None:
    from edoc_exchange.sandbox.pki import new_tls_pair

    add_staff(exchange.district)
    cert, key, ca = new_tls_pair(tmp_path, "127.0.0.1")
    base = pages(exchange.district, tls_cert=cert, tls_key=key)
    assert base.startswith("https://")
    with httpx.Client(
        base_url=base, timeout=30, verify=ssl.create_default_context(cafile=str(ca))
    ) as client:
        answer = _login(client, base, "vanthu", PASSWORD)
    assert answer.status_code == 303
    cookie = next(
        h for h in answer.headers.get_list("set-cookie") if h.startswith("edoc_session=")
    )
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def test_the_first_load_is_light(served: tuple[str, Exchange]) -> None:
    """Everything a first visit downloads (the sign-in page, its stylesheet and script, then
    the first page) stays far under issue 12's 300 KB for a weak link; nothing comes from
    another host."""
    base, _ = served
    with httpx.Client(base_url=base, timeout=30) as anonymous:
        login = anonymous.get("/login")
        assets = [anonymous.get(path) for path in ("/static/app.css", "/static/app.js")]
    with signed_in_client(base, "vanthu") as client:
        first = client.get("/incoming")
    total = sum(len(r.content) for r in (login, first, *assets))
    assert all(r.status_code == 200 for r in (login, first, *assets))
    assert total < 300_000, total
    for answer in (login, first):
        assert "http://" not in answer.text.replace(base, "")
        assert "https://" not in answer.text
    assert assets[0].headers["cache-control"] == "public, max-age=86400"
