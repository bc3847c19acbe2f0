"""Accounts, web sessions and failed sign-ins: the SQL behind ``office.staff``.

Only hashes are stored: argon2id for passwords, SHA-256 for session tokens. Every change
that should end a user's sessions (a new password, disabling) deletes them in the same
transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .db import StoreError, as_utc
from .tables import Role, login_failures, users, web_sessions

__all__ = [
    "SessionRow",
    "UserRow",
    "add_user",
    "clear_failures",
    "delete_session",
    "failures_since",
    "find_session",
    "find_user",
    "find_username",
    "list_users",
    "record_failure",
    "set_disabled",
    "set_password_hash",
    "set_role",
    "set_seen",
    "start_session",
    "touch_session",
]


@dataclass(frozen=True)
class UserRow:
    """One account as stored (the hash stays here: it never reaches a page)."""

    id: int
    office_id: str
    username: str
    full_name: str
    role: Role
    email: str | None
    password_hash: str
    disabled_at: dt.datetime | None
    created_at: dt.datetime
    password_changed_at: dt.datetime
    seen_at: dt.datetime | None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class SessionRow:
    """A signed-in browser: whose, its CSRF token and when it ends."""

    user_id: int
    csrf_token: str
    seen_at: dt.datetime
    expires_at: dt.datetime


def _user(row: object) -> UserRow:
    m = row._mapping  # type: ignore[attr-defined]
    return UserRow(
        id=int(m["id"]),
        office_id=m["office_id"],
        username=m["username"],
        full_name=m["full_name"],
        role=Role(m["role"]),
        email=m["email"],
        password_hash=m["password_hash"],
        disabled_at=as_utc(m["disabled_at"]) if m["disabled_at"] else None,
        created_at=as_utc(m["created_at"]),
        password_changed_at=as_utc(m["password_changed_at"]),
        seen_at=as_utc(m["seen_at"]) if m["seen_at"] else None,
    )


def add_user(
    conn: Connection,
    *,
    office_id: str,
    username: str,
    full_name: str,
    role: Role,
    password_hash: str,
    email: str | None,
    now: dt.datetime,
) -> int:
    """Insert an account; StoreError when the name is taken (in any office)."""
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(users)
                .values(
                    office_id=office_id,
                    username=username,
                    full_name=full_name,
                    role=role,
                    email=email,
                    password_hash=password_hash,
                    created_at=now,
                    password_changed_at=now,
                )
                .returning(users.c.id)
            )
            return int(result.scalar_one())
    except IntegrityError:
        raise StoreError(
            f"Tên đăng nhập {username} đã có người dùng",
            f"the user name {username} is taken",
            step="users.username",
        ) from None


def find_username(conn: Connection, username: str) -> UserRow | None:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    return _user(row) if row is not None else None


def find_user(conn: Connection, user_id: int) -> UserRow | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(row) if row is not None else None


def list_users(conn: Connection, office_id: str) -> list[UserRow]:
    rows = conn.execute(
        select(users).where(users.c.office_id == office_id).order_by(users.c.username)
    )
    return [_user(row) for row in rows]


def _end_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


def set_password_hash(conn: Connection, user_id: int, password_hash: str, now: dt.datetime) -> None:
    """A new password ends every session of the user."""
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, password_changed_at=now)
    )
    _end_sessions(conn, user_id)


def set_disabled(conn: Connection, user_id: int, at: dt.datetime | None) -> None:
    """Disable (``at``) or enable (None) an account; disabling ends its sessions."""
    conn.execute(update(users).where(users.c.id == user_id).values(disabled_at=at))
    if at is not None:
        _end_sessions(conn, user_id)


def set_role(conn: Connection, user_id: int, role: Role) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(role=role))
    _end_sessions(conn, user_id)


def set_seen(conn: Connection, user_id: int, at: dt.datetime) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(seen_at=at))


def start_session(
    conn: Connection,
    *,
    token_hash: str,
    user_id: int,
    csrf_token: str,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> None:
    conn.execute(
        insert(web_sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            seen_at=now,
            expires_at=expires_at,
        )
    )
    # Expired sessions of anyone go as new ones come: the table stays small.
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))


def find_session(conn: Connection, token_hash: str) -> SessionRow | None:
    row = conn.execute(
        select(
            web_sessions.c.user_id,
            web_sessions.c.csrf_token,
            web_sessions.c.seen_at,
            web_sessions.c.expires_at,
        ).where(web_sessions.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return SessionRow(
        int(row.user_id), row.csrf_token, as_utc(row.seen_at), as_utc(row.expires_at)
    )


def touch_session(
    conn: Connection, token_hash: str, now: dt.datetime, expires_at: dt.datetime
) -> None:
    conn.execute(
        update(web_sessions)
        .where(web_sessions.c.token_hash == token_hash)
        .values(seen_at=now, expires_at=expires_at)
    )


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == token_hash))


def record_failure(conn: Connection, keys: list[str], now: dt.datetime, keep: dt.timedelta) -> None:
    """Count a failed sign-in under each key; forget failures older than ``keep``."""
    conn.execute(delete(login_failures).where(login_failures.c.at < now - keep))
    conn.execute(insert(login_failures), [{"key": key[:300], "at": now} for key in keys])


def failures_since(
    conn: Connection, key: str, since: dt.datetime
) -> tuple[int, dt.datetime | None]:
    """How many failures ``key`` had since ``since``, and the oldest of them."""
    row = conn.execute(
        select(func.count(), func.min(login_failures.c.at)).where(
            login_failures.c.key == key[:300], login_failures.c.at >= since
        )
    ).one()
    return int(row[0]), as_utc(row[1]) if row[1] is not None else None


def clear_failures(conn: Connection, key: str) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.key == key[:300]))
