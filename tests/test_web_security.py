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
