"""``edoc web`` (the office's pages) and ``edoc users`` (its staff accounts).

Passwords are never arguments (they would stay in the shell history and in ``ps``): they
are asked at the terminal, twice, or read from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import load_settings
from ..office import build_office, open_store, staff
from ..web import create_app
from ..web.serve import PagesServer
from ._app import ConfigOption, app, exits_on_error, out

users_app = typer.Typer(help="Tài khoản cán bộ. Staff accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")

_ROLES = {role.value: role for role in staff.Role}
RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help="van_thu (văn thư), lanh_dao (lãnh đạo), chuyen_vien (chuyên viên), "
        "quan_tri (quản trị).",
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Đọc mật khẩu từ stdin. Read the password from stdin."),
]


def _role(value: str) -> staff.Role:
    found = _ROLES.get(value.strip().lower())
    if found is None:
        raise staff.StaffError(
            f"Vai trò không hợp lệ: {value}; dùng {', '.join(_ROLES)}",
            f"not a role: {value}; use {', '.join(_ROLES)}",
            step="users.role",
        )
    return found


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first: str = typer.prompt("Mật khẩu / password", hide_input=True)
    second: str = typer.prompt("Nhập lại / again", hide_input=True)
    if first != second:
        raise staff.StaffError(
            "Hai lần nhập mật khẩu không khớp", "the two passwords differ",
            step="users.password",
        )
    return first


@users_app.command("add")
@exits_on_error
def users_add(
    username: str,
    name: Annotated[str, typer.Option("--name", help="Họ tên. Full name.")],
    role: RoleOption,
    email: Annotated[str | None, typer.Option("--email")] = None,
    password_stdin: PasswordStdin = False,
    config: ConfigOption = None,
) -> None:
    """Thêm tài khoản. Add a staff account to this office."""
    settings = load_settings(config)
    office = settings.require_office()
    chosen = _role(role)
    db = open_store(settings)
    user = staff.add_user(
        db, office.organ_id, username, name, chosen, _password(password_stdin),
        email=email, by="cli",
    )
    out.print(f"Đã thêm / added: {user.username} ({user.role.value}) — {office.organ_id}")


@users_app.command("passwd")
@exits_on_error
def users_passwd(
    username: str, password_stdin: PasswordStdin = False, config: ConfigOption = None
) -> None:
    """Đặt mật khẩu mới (kết thúc mọi phiên). Set a new password (ends every session)."""
    db = open_store(load_settings(config))
    staff.set_password(db, username, _password(password_stdin), by="cli")
    out.print(f"Đã đổi mật khẩu / password changed: {username}")


@users_app.command("disable")
@exits_on_error
def users_disable(username: str, config: ConfigOption = None) -> None:
    """Khóa tài khoản. Disable an account (its sessions end at once)."""
    db = open_store(load_settings(config))
    staff.disable_user(db, username, by="cli")
    out.print(f"Đã khóa / disabled: {username}")


@users_app.command("enable")
@exits_on_error
def users_enable(username: str, config: ConfigOption = None) -> None:
    """Mở khóa tài khoản. Enable a disabled account."""
    db = open_store(load_settings(config))
    staff.enable_user(db, username, by="cli")
    out.print(f"Đã mở khóa / enabled: {username}")


@users_app.command("list")
@exits_on_error
def users_list(config: ConfigOption = None) -> None:
    """Danh sách tài khoản. The office's accounts."""
    settings = load_settings(config)
    db = open_store(settings)
    table = Table("username", "name", "role", "state")
    for user in staff.list_users(db, settings.require_office().organ_id):
        table.add_row(
            user.username, user.full_name, user.role.value,
            "disabled" if user.disabled else "active",
        )
    out.print(table)


@app.command("web")
@exits_on_error
def web(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Default: [web] host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: [web] port.")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", exists=True)] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", exists=True)] = None,
) -> None:
    """Trang web của cơ quan. Serve the office's pages until Ctrl+C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings(config)
    office = build_office(settings, receiving=False)
    pages = PagesServer(
        create_app(office, settings.web),
        host or settings.web.host,
        settings.web.port if port is None else port,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    url = pages.start()
    out.print(f"edoc web: {url} ({office.office_id}); Ctrl+C để dừng / to stop")
    try:
        pages.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pages.stop()
        office.db.dispose()
