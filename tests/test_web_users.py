"""The accounts page over real HTTP: only an administrator, only this office's staff."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from web_fixtures import (
    PASSWORD,
    add_staff,
    csrf_of,
    pages,  # noqa: F401  (fixture)
    signed_in_client,
)

from edoc_exchange.office import staff


def _served(ex: Exchange, pages: Callable[..., str]) -> str:  # noqa: F811
    add_staff(ex.district)
    return pages(ex.district)


def test_an_admin_adds_an_account_that_can_then_sign_in(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    base = _served(exchange, pages)
    with signed_in_client(base, "quantri") as admin:
        token = csrf_of(admin, "/users")
        answer = admin.post(
            "/users",
            data={
                "csrf_token": token,
                "username": "vanthu2",
                "full_name": "Lường Văn Tú",
                "role": "van_thu",
                "password": "mot-mat-khau-moi",
            },
            headers={"origin": base},
        )
        assert answer.status_code == 303
        listing = admin.get("/users").text
        assert "Lường Văn Tú" in listing
        assert "mot-mat-khau-moi" not in listing
        assert "$argon2" not in listing
    with signed_in_client(base, "vanthu2", "mot-mat-khau-moi") as clerk:
        assert clerk.get("/users").status_code == 403


def test_bad_accounts_show_a_message_and_store_nothing(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    base = _served(exchange, pages)
    before = staff.list_users(exchange.district.db, exchange.district.office_id)
    with signed_in_client(base, "quantri") as admin:
        token = csrf_of(admin, "/users")
        for bad, words in (
            ({"username": "../x", "password": PASSWORD, "role": "van_thu"}, "Tên đăng nhập"),
            ({"username": "vanthu9", "password": "ngan", "role": "van_thu"}, "Mật khẩu"),
            ({"username": "vanthu9", "password": PASSWORD, "role": "vua"}, "Vai trò"),
            ({"username": "vanthu", "password": PASSWORD, "role": "van_thu"}, "đã có"),
        ):
            answer = admin.post(
                "/users",
                data={"csrf_token": token, "full_name": "Tên", **bad},
                headers={"origin": base},
            )
            assert answer.status_code == 400, bad
            assert words in answer.text, bad
    assert staff.list_users(exchange.district.db, exchange.district.office_id) == before


def test_disabling_ends_sessions_but_never_ones_own(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    base = _served(exchange, pages)
    with signed_in_client(base, "chuyenvien") as officer, signed_in_client(
        base, "quantri"
    ) as admin:
        assert officer.get("/users").status_code == 403
        token = csrf_of(admin, "/users")
        done = admin.post(
            "/users/chuyenvien/disable", data={"csrf_token": token}, headers={"origin": base}
        )
        assert done.status_code == 303
        assert officer.get("/users").status_code == 303  # signed out: back to the form
        own = admin.post(
            "/users/quantri/disable", data={"csrf_token": token}, headers={"origin": base}
        )
        assert own.status_code == 400
        assert "tự khóa" in own.text


def test_an_admin_never_touches_another_office_staff(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    base = _served(exchange, pages)
    staff.add_user(
        exchange.district.db, exchange.commune.office_id, "vanthu-xa", "Xã", staff.Role.CLERK,
        PASSWORD,
    )
    with signed_in_client(base, "quantri") as admin:
        token = csrf_of(admin, "/users")
        assert "vanthu-xa" not in admin.get("/users").text
        answer = admin.post(
            "/users/vanthu-xa/disable", data={"csrf_token": token}, headers={"origin": base}
        )
        assert answer.status_code == 404
    with httpx.Client(base_url=base) as client:
        assert client.get("/users").status_code == 303
    assert not [
        u for u in staff.list_users(exchange.district.db, exchange.commune.office_id)
        if u.disabled
    ]
