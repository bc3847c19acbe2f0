"""Every page and action, found from the application's own routes (so a page added later is
covered without editing this file): refused to an anonymous visitor, and no POST of any role
succeeds without the session's CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from starlette.routing import Mount, Route
from web_fixtures import add_staff, pages, signed_in_client  # noqa: F401  (fixture)

from edoc_exchange.web import create_app

#: Open to anyone: the sign-in form, the language switch, the stylesheet and script.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/lang")}
USERS = ("vanthu", "chutich", "chuyenvien", "quantri")


def _routes(ex: Exchange) -> Iterator[tuple[str, str]]:
    """(method, path) of every page, path parameters filled with a value of the right
    shape (an id that does not exist: the guard must answer before the lookup)."""
    app = create_app(ex.district)
    for route in app.routes:
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue
        path = re.sub(r"\{[a-z_]+:int\}", "999999", route.path)
        path = re.sub(r"\{username\}", "vanthu", path)
        path = re.sub(r"\{action\}", "disable", path)
        path = re.sub(r"\{[a-z_]+(:[a-z]+)?\}", "1", path)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                yield method, path


@pytest.fixture
def site(exchange: Exchange, pages: Callable[..., str]) -> str:  # noqa: F811
    add_staff(exchange.district)
    return pages(exchange.district)


def test_the_routes_are_found(exchange: Exchange) -> None:  # noqa: F811
    found = set(_routes(exchange))
    for expected in (("GET", "/incoming"), ("POST", "/logout"), ("GET", "/egov"),
                     ("GET", "/audit"), ("GET", "/users")):
        assert expected in found
    assert len(found) >= 20


def test_every_page_refuses_an_anonymous_visitor(site: str, exchange: Exchange) -> None:  # noqa: F811
    with httpx.Client(base_url=site, timeout=30) as client:
        for method, path in _routes(exchange):
            if (method, path) in PUBLIC:
                continue
            answer = client.request(method, path, headers={"origin": site})
            if method == "GET":
                assert answer.status_code == 303, (method, path, answer.status_code)
                assert answer.headers["location"].startswith("/login?next="), path
            else:
                assert answer.status_code == 401, (method, path, answer.status_code)


def test_no_post_succeeds_without_the_csrf_token(site: str, exchange: Exchange) -> None:  # noqa: F811
    posts = [path for method, path in _routes(exchange) if method == "POST"]
    posts = [p for p in posts if ("POST", p) not in PUBLIC]
    assert posts
    for username in USERS:
        with signed_in_client(site, username) as client:
            for path in posts:
                answer = client.post(path, data={"x": "1"}, headers={"origin": site})
                assert answer.status_code == 403, (username, path, answer.status_code)
                forged = client.post(
                    path, data={"csrf_token": "forged"}, headers={"origin": site}
                )
                assert forged.status_code == 403, (username, path, forged.status_code)


def test_a_request_over_the_bound_is_refused_before_it_is_stored(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    from edoc_exchange.config import WebSettings
    from edoc_exchange.office.outgoing import list_drafts

    add_staff(exchange.district)
    site = pages(exchange.district, WebSettings(request_max_mb=1, upload_max_mb=1))
    big = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024) + b"\n%%EOF\n"
    with signed_in_client(site, "chuyenvien") as client:
        token = client.get("/drafts/new").text.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post(
            "/drafts/new",
            data={"csrf_token": token, "subject": "Tệp quá lớn"},
            files={"main_file": ("to.pdf", big, "application/pdf")},
            headers={"origin": site},
        )
        assert answer.status_code == 413
        assert "vượt giới hạn 1 MiB" in answer.text

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
            yield b"csrf_token=" + token.encode() + b"&subject="
            for _ in range(40):
                yield b"x" * 65536

        streamed = client.post(
            "/drafts/new",
            content=chunks(),
            headers={"origin": site, "content-type": "application/x-www-form-urlencoded"},
        )
        assert streamed.status_code == 413
        assert client.get("/drafts").status_code == 200  # the server is still fine
    assert list_drafts(exchange.district)[0] == []
