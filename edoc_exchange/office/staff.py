"""The office's staff: accounts, roles, signing in and out, sessions.

One door for the CLI (``edoc users``), the web pages and an embedding tool. Passwords are
hashed with argon2id (a wrong guess costs the guesser as much as the check costs us);
sign-in is rate limited per user name and per client address in the database, so the limit
holds across every process serving the pages; a session is a random token whose SHA-256
alone is stored. Every sign-in, refusal, sign-out and account change is an audit event of
the user's office.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .. import audit
from ..errors import EdocError
from ..store import Database, Role
from ..store import staff as staff_store

__all__ = [
    "ROLE_NAMES",
    "RateLimits",
    "Role",
    "SignInRefusedError",
    "SignedIn",
    "StaffError",
    "User",
    "add_user",
    "disable_user",
    "enable_user",
    "find_user",
    "list_users",
    "mark_seen",
    "session_user",
    "set_password",
    "set_role",
    "sign_in",
    "sign_out",
]

#: How each role is named to a person (Vietnamese, English).
ROLE_NAMES: Final[dict[Role, tuple[str, str]]] = {
    Role.CLERK: ("Văn thư", "Clerk"),
    Role.LEADER: ("Lãnh đạo", "Leader"),
    Role.OFFICER: ("Chuyên viên", "Officer"),
    Role.ADMIN: ("Quản trị", "Administrator"),
}

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]")
MIN_PASSWORD = 10
#: Session length without activity, and at most in all.
IDLE: Final = dt.timedelta(hours=8)
#: A session's expiry is pushed back at most this often (not one write per page).
_TOUCH_EVERY: Final = dt.timedelta(minutes=5)
_HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended profile (64 MiB, t=3)
# Checked when the user name is unknown, so that the time taken does not tell whether a
# name exists.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


class StaffError(EdocError):
    """An account could not be added or changed as asked."""


class SignInRefusedError(EdocError):
    """Sign-in refused: wrong name or password, a disabled account, or too many tries.

    The message never says which of name or password was wrong.
    """

    def __init__(self, vi: str, en: str, *, retry_after: int | None = None) -> None:
        super().__init__(vi, en, step="sign-in")
        self.retry_after = retry_after


@dataclass(frozen=True)
class RateLimits:
    """Failed sign-ins allowed within ``window`` per user name and per client address."""

    per_user: int = 5
    per_address: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class User:
    """A member of an office's staff, as the pages and the CLI see one (no hash)."""

    id: int
    office_id: str
    username: str
    full_name: str
    role: Role
    email: str | None
    disabled: bool
    seen_at: dt.datetime | None

    @property
    def role_name(self) -> tuple[str, str]:
        return ROLE_NAMES[self.role]

    @classmethod
    def of(cls, row: staff_store.UserRow) -> User:
        return cls(
            row.id,
            row.office_id,
            row.username,
            row.full_name,
            row.role,
            row.email,
            row.disabled,
            row.seen_at,
        )


@dataclass(frozen=True)
class SignedIn:
    """A session just opened: the token for the cookie (shown nowhere else) and its user."""

    token: str
    csrf_token: str
    user: User
    expires_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def normal_username(username: str) -> str:
    """A user name as stored: NFC, trimmed, lower case."""
    return unicodedata.normalize("NFC", username).strip().lower()


def _check_username(username: str) -> str:
    name = normal_username(username)
    if not _USERNAME.fullmatch(name):
        raise StaffError(
            "Tên đăng nhập gồm 3–64 chữ cái không dấu, chữ số, dấu chấm, gạch ngang hoặc "
            "gạch dưới, bắt đầu và kết thúc bằng chữ hoặc số",
            "a user name is 3-64 unaccented letters, digits, dots, hyphens or underscores, "
            "starting and ending with a letter or digit",
            step="users.username",
        )
    return name


def _check_password(password: str) -> str:
    password = unicodedata.normalize("NFC", password)
    if len(password) < MIN_PASSWORD:
        raise StaffError(
            f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự",
            f"a password has at least {MIN_PASSWORD} characters",
            step="users.password",
        )
    if len(password) > 1024:
        raise StaffError(
            "Mật khẩu quá dài (tối đa 1024 ký tự)",
            "the password is too long (1024 characters at most)",
            step="users.password",
        )
    return password


def _check_name(full_name: str) -> str:
    name = unicodedata.normalize("NFC", full_name).strip()
    if not name or len(name) > 200 or any(unicodedata.category(c) == "Cc" for c in name):
        raise StaffError(
            "Họ tên không được để trống, tối đa 200 ký tự, không có ký tự điều khiển",
            "the full name is required, at most 200 characters, without control characters",
            step="users.full_name",
        )
    return name


def _audit(conn: Any, office_id: str, event: audit.AuditEvent, data: dict[str, Any]) -> None:
    audit.append(conn, office_id, event, data)


def add_user(
    db: Database,
    office_id: str,
    username: str,
    full_name: str,
    role: Role,
    password: str,
    *,
    email: str | None = None,
    by: str | None = None,
    now: dt.datetime | None = None,
) -> User:
    """Add an account to ``office_id``. Raises StaffError for a bad name, password or full
    name, StoreError when the user name is taken."""
    name = _check_username(username)
    full = _check_name(full_name)
    secret = _check_password(password)
    mail = email.strip() if email and email.strip() else None
    if mail is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", mail):
        raise StaffError(
            f"Địa chỉ thư điện tử không hợp lệ: {mail}",
            f"not an e-mail address: {mail}",
            step="users.email",
        )
    at = now or _now()
    audit.ensure_log(db, office_id)
    with db.transaction() as conn:
        user_id = staff_store.add_user(
            conn,
            office_id=office_id,
            username=name,
            full_name=full,
            role=Role(role),
            password_hash=_HASHER.hash(secret),
            email=mail,
            now=at,
        )
        _audit(conn, office_id, audit.AuditEvent.ACCOUNT_CHANGED,
               {"change": "added", "username": name, "role": Role(role).value, "by": by})
        row = staff_store.find_user(conn, user_id)
    assert row is not None
    return User.of(row)


def _existing(conn: Any, username: str) -> staff_store.UserRow:
    row = staff_store.find_username(conn, normal_username(username))
    if row is None:
        raise StaffError(
            f"Không có tài khoản {username}",
            f"no account named {username}",
            step="users.username",
        )
    return row


def set_password(
    db: Database, username: str, password: str, *, by: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Give an account a new password; every session it had ends."""
    secret = _check_password(password)
    with db.transaction() as conn:
        row = _existing(conn, username)
        staff_store.set_password_hash(conn, row.id, _HASHER.hash(secret), now or _now())
        _audit(conn, row.office_id, audit.AuditEvent.ACCOUNT_CHANGED,
               {"change": "password", "username": row.username, "by": by})


def disable_user(db: Database, username: str, *, by: str | None = None,
                 now: dt.datetime | None = None) -> None:
    """Disable an account (kept for the record: its actions stay attributed); its
    sessions end at once."""
    with db.transaction() as conn:
        row = _existing(conn, username)
        staff_store.set_disabled(conn, row.id, now or _now())
        _audit(conn, row.office_id, audit.AuditEvent.ACCOUNT_CHANGED,
               {"change": "disabled", "username": row.username, "by": by})


def enable_user(db: Database, username: str, *, by: str | None = None) -> None:
    with db.transaction() as conn:
        row = _existing(conn, username)
        staff_store.set_disabled(conn, row.id, None)
        _audit(conn, row.office_id, audit.AuditEvent.ACCOUNT_CHANGED,
               {"change": "enabled", "username": row.username, "by": by})


def set_role(db: Database, username: str, role: Role, *, by: str | None = None) -> None:
    with db.transaction() as conn:
        row = _existing(conn, username)
        staff_store.set_role(conn, row.id, Role(role))
        _audit(conn, row.office_id, audit.AuditEvent.ACCOUNT_CHANGED,
               {"change": "role", "username": row.username, "role": Role(role).value, "by": by})


def list_users(db: Database, office_id: str) -> list[User]:
    with db.read() as conn:
        return [User.of(row) for row in staff_store.list_users(conn, office_id)]


def find_user(db: Database, user_id: int) -> User | None:
    with db.read() as conn:
        row = staff_store.find_user(conn, user_id)
    return User.of(row) if row is not None else None


def _refused_too_often(wait: dt.timedelta) -> SignInRefusedError:
    minutes = max(1, int(wait.total_seconds() + 59) // 60)
    return SignInRefusedError(
        f"Đăng nhập sai quá nhiều lần; thử lại sau {minutes} phút",
        f"too many failed sign-ins; try again in {minutes} minutes",
        retry_after=int(wait.total_seconds()) + 1,
    )


_WRONG = (
    "Sai tên đăng nhập hoặc mật khẩu",
    "wrong user name or password",
)


def sign_in(
    db: Database,
    username: str,
    password: str,
    *,
    address: str | None,
    limits: RateLimits = RateLimits(),
    now: dt.datetime | None = None,
) -> SignedIn:
    """Check a name and password and open a session; :class:`SignInRefusedError` otherwise.

    The limits are checked before the password (a locked-out guesser learns nothing, and
    pays no hashing of ours); the refusal for a wrong name and for a wrong password is the
    same text and costs the same time.
    """
    at = now or _now()
    name = normal_username(username)
    keys = [f"user:{name}"] + ([f"ip:{address}"] if address else [])
    with db.read() as conn:
        for key, allowed in zip(keys, (limits.per_user, limits.per_address), strict=False):
            count, oldest = staff_store.failures_since(conn, key, at - limits.window)
            if count >= allowed and oldest is not None:
                raise _refused_too_often(oldest + limits.window - at)
        row = staff_store.find_username(conn, name)
    try:
        _HASHER.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
        good = row is not None and not row.disabled
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        good = False
    if not good or row is None:
        with db.transaction() as conn:
            staff_store.record_failure(conn, keys, at, keep=limits.window * 4)
            if row is not None:
                reason = "disabled" if row.disabled else "password"
                _audit(conn, row.office_id, audit.AuditEvent.SIGN_IN_REFUSED,
                       {"username": row.username, "reason": reason, "address": address})
        raise SignInRefusedError(*_WRONG)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = at + IDLE
    with db.transaction() as conn:
        staff_store.start_session(
            conn,
            token_hash=_hash_token(token),
            user_id=row.id,
            csrf_token=csrf,
            now=at,
            expires_at=expires,
        )
        staff_store.clear_failures(conn, f"user:{name}")
        if _HASHER.check_needs_rehash(row.password_hash):
            staff_store.set_password_hash(conn, row.id, _HASHER.hash(password), at)
        _audit(conn, row.office_id, audit.AuditEvent.SIGNED_IN,
               {"username": row.username, "address": address})
    return SignedIn(token, csrf, User.of(row), expires)


def session_user(
    db: Database, token: str | None, *, now: dt.datetime | None = None
) -> tuple[User, str] | None:
    """The user and CSRF token of a session cookie, or None (no such session, expired, or
    the account disabled). Pushes the expiry back as the user works."""
    if not token or len(token) > 200:
        return None
    at = now or _now()
    digest = _hash_token(token)
    with db.read() as conn:
        found = staff_store.find_session(conn, digest)
        row = staff_store.find_user(conn, found.user_id) if found is not None else None
    if found is None or row is None or row.disabled or found.expires_at <= at:
        return None
    if at - found.seen_at >= _TOUCH_EVERY:
        with db.transaction() as conn:
            staff_store.touch_session(conn, digest, at, at + IDLE)
    return User.of(row), found.csrf_token


def sign_out(db: Database, token: str | None) -> None:
    """End a session (nothing happens for an unknown token)."""
    if not token or len(token) > 200:
        return
    digest = _hash_token(token)
    with db.transaction() as conn:
        found = staff_store.find_session(conn, digest)
        if found is None:
            return
        row = staff_store.find_user(conn, found.user_id)
        staff_store.delete_session(conn, digest)
        if row is not None:
            _audit(conn, row.office_id, audit.AuditEvent.SIGNED_OUT, {"username": row.username})


def mark_seen(db: Database, user: User, *, now: dt.datetime | None = None) -> None:
    """The user has seen what arrived until now (the notification badge starts again)."""
    with db.transaction() as conn:
        staff_store.set_seen(conn, user.id, now or _now())
