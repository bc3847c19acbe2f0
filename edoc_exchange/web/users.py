"""The accounts page (quản trị only): the office's staff, adding one, disabling, a new
password. The same doors as ``edoc users``; each change is an audit event naming the admin.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import EdocError
from ..office import staff
from . import _i18n
from ._app import call, context, failed, form_of, not_found, page, render

_i18n.add(
    {
        "users.title": ("Tài khoản cán bộ", "Staff accounts"),
        "users.add": ("Thêm tài khoản", "Add an account"),
        "users.full_name": ("Họ tên", "Full name"),
        "users.role": ("Vai trò", "Role"),
        "users.email": ("Thư điện tử", "E-mail"),
        "users.state": ("Trạng thái", "State"),
        "users.active": ("Đang dùng", "Active"),
        "users.disabled": ("Đã khóa", "Disabled"),
        "users.disable": ("Khóa", "Disable"),
        "users.enable": ("Mở khóa", "Enable"),
        "users.new_password": ("Mật khẩu mới", "New password"),
        "users.set_password": ("Đặt mật khẩu", "Set password"),
        "users.done": ("Đã lưu", "Saved"),
    }
)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


async def _page(request: Request, status: int = 200, message: str | None = None) -> Response:
    office = context(request).office
    users = await call(staff.list_users, office.db, office.office_id)
    return render(
        request,
        "users.html",
        status_code=status,
        users=users,
        roles=list(staff.Role),
        role_names=staff.ROLE_NAMES,
        message=message,
        done=request.query_params.get("done") == "1",
    )


@page(staff.Role.ADMIN)
async def users_page(request: Request) -> Response:
    return await _page(request)


def _admin(request: Request) -> str:
    return str(request.state.visitor.user.username)


@page(staff.Role.ADMIN)
async def add(request: Request) -> Response:
    form = await form_of(request)
    office = context(request).office
    role_value = _text(form.get("role"))
    try:
        role = staff.Role(role_value)
    except ValueError:
        return failed(request, staff.StaffError(
            f"Vai trò không hợp lệ: {role_value}", f"not a role: {role_value}",
            step="users.role",
        ))
    try:
        await call(
            staff.add_user,
            office.db,
            office.office_id,
            _text(form.get("username")),
            _text(form.get("full_name")),
            role,
            _text(form.get("password")),
            email=_text(form.get("email")) or None,
            by=_admin(request),
        )
    except EdocError as exc:
        lang = _i18n.pick(request.cookies.get("edoc_lang"))
        return await _page(request, 400, _i18n.both(exc.vi, exc.en, lang))
    return RedirectResponse("/users?done=1", 303)


async def _own(request: Request) -> staff.User | None:
    """The account named in the path, if it belongs to this office (others are not
    found: an admin of one commune never touches another's staff)."""
    office = context(request).office
    name = staff.normal_username(request.path_params["username"])
    for user in await call(staff.list_users, office.db, office.office_id):
        if user.username == name:
            return user
    return None


@page(staff.Role.ADMIN)
async def change(request: Request) -> Response:
    user = await _own(request)
    if user is None:
        return not_found(request)
    db = context(request).office.db
    action = request.path_params["action"]
    if action == "disable":
        if user.id == request.state.visitor.user.id:
            return failed(request, staff.StaffError(
                "Không thể tự khóa tài khoản của mình", "you cannot disable your own account",
                step="users.disable",
            ))
        await call(staff.disable_user, db, user.username, by=_admin(request))
    elif action == "enable":
        await call(staff.enable_user, db, user.username, by=_admin(request))
    elif action == "password":
        form = await form_of(request)
        await call(staff.set_password, db, user.username, _text(form.get("password")),
                   by=_admin(request))
    else:
        return not_found(request)
    return RedirectResponse("/users?done=1", 303)


routes: list[BaseRoute] = [
    Route("/users", users_page, methods=["GET"]),
    Route("/users", add, methods=["POST"]),
    Route("/users/{username}/{action}", change, methods=["POST"]),
]
