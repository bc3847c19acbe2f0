"""The office's pages served for real (uvicorn on 127.0.0.1), staff accounts, and Debian's
Chromium driven by Playwright.

``pages(office)`` serves an office's pages on a free port and returns their address; the
server stops with the test. ``staff_of(office)`` adds the usual accounts (a văn thư, a
lãnh đạo, two chuyên viên, an admin) with known passwords. ``browser`` is one headless
Chromium for the session (``/usr/bin/chromium``, installed by ``scripts/install.sh --dev``:
Playwright's own browser download cannot work on these machines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from edoc_exchange.config import WebSettings
from edoc_exchange.office import Office, staff
from edoc_exchange.web import create_app
from edoc_exchange.web.serve import PagesServer

CHROMIUM = Path("/usr/bin/chromium")
#: As the machine notes say: without these, Chromium's background connections are refused
#: by the closed network, many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "mat-khau-du-dai-2026"


@dataclass(frozen=True)
class Staff:
    """The accounts of one office (all with ``PASSWORD``)."""

    clerk: staff.User
    leader: staff.User
    officer: staff.User
    officer2: staff.User
    admin: staff.User


def add_staff(office: Office, prefix: str = "") -> Staff:
    def add(name: str, full: str, role: staff.Role) -> staff.User:
        return staff.add_user(office.db, office.office_id, f"{prefix}{name}", full, role, PASSWORD)

    return Staff(
        clerk=add("vanthu", "Lò Thị Mai", staff.Role.CLERK),
        leader=add("chutich", "Nguyễn Văn Hùng", staff.Role.LEADER),
        officer=add("chuyenvien", "Vàng A Sính", staff.Role.OFFICER),
        officer2=add("chuyenvien2", "Hoàng Thị Lan", staff.Role.OFFICER),
        admin=add("quantri", "Trần Minh Quân", staff.Role.ADMIN),
    )


@pytest.fixture
def pages() -> Iterator[Callable[..., str]]:
    """Serve an office's pages; returns the base URL. Stopped after the test."""
    servers: list[PagesServer] = []

    def serve(office: Office, settings: WebSettings | None = None, **kwargs: Any) -> str:
        server = PagesServer(create_app(office, settings), "127.0.0.1", 0, **kwargs)
        servers.append(server)
        return server.start()

    yield serve
    for server in servers:
        server.stop()


_HIDDEN = re.compile(r'name="(login_token|csrf_token)" value="([^"]+)"')


def hidden_token(html: str, name: str) -> str:
    """A hidden form token of a page (the test reads it as a browser would)."""
    for found, value in _HIDDEN.findall(html):
        if found == name:
            return str(value)
    raise AssertionError(f"no {name} in the page")


@contextmanager
def signed_in_client(
    base: str, username: str, password: str = PASSWORD, **kwargs: Any
) -> Iterator[httpx.Client]:
    """An HTTP client signed in through the real form (cookies kept, like a browser)."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30, **kwargs) as client:
        yield _sign_in(client, base, username, password)


def _sign_in(client: httpx.Client, base: str, username: str, password: str) -> httpx.Client:
    form = client.get("/login")
    assert form.status_code == 200
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "login_token": hidden_token(form.text, "login_token"),
            "next": "/",
        },
        headers={"origin": base},
    )
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client, path: str = "/incoming") -> str:
    """The session's CSRF token, read from a page's forms."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return hidden_token(page.text, "csrf_token")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Debian Chromium for one test module, driven by Playwright.

    Per module, not per session: Playwright's sync API keeps an asyncio loop running in the
    main thread while it is open, and code that must not run inside a loop (PDF signing
    refuses to) would fail in whatever test ran after the first browser test.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/install.sh --dev (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        chromium = play.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
