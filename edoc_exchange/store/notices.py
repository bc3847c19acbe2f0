"""What the e-mail notices need: documents a user was not yet told about, and the record of
each notice sent (``notifications_sent``), so that a notice goes out once however many
passes see the document.

Kept small on purpose: the web's notification list (``office.notices``) asks similar
questions and the two may share one query later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .db import as_utc
from .tables import InboxVerdict, inbox, inbox_handling, notifications_sent

__all__ = ["NEW", "OVERDUE", "NoticeRow", "mark_sent", "unsent_new", "unsent_overdue"]

#: The two kinds of notice (the ``kind`` column).
NEW = "new"
OVERDUE = "overdue"
#: Clerk states after which a document is no longer waiting for anyone (06 done, 02 rejected).
_FINISHED = ("06", "02")


@dataclass(frozen=True)
class NoticeRow:
    """A received document as a notice tells it."""

    inbox_id: int
    document_id: str
    sender: str
    sender_name: str | None
    subject: str | None
    received_at: dt.datetime
    #: The handling deadline when one was set, else the document's own due date (ISO date).
    due: str | None


def _unsent(user_id: int, kind: str) -> ColumnElement[bool]:
    return ~exists().where(
        notifications_sent.c.user_id == user_id,
        notifications_sent.c.kind == kind,
        notifications_sent.c.inbox_id == inbox.c.id,
    )


def _select(office_id: str, user_id: int, kind: str, assigned_only: bool) -> Select[Any]:
    due = func.coalesce(inbox_handling.c.deadline, inbox.c.due_date).label("due")
    stmt = (
        select(
            inbox.c.id,
            inbox.c.document_id,
            inbox.c.sender,
            inbox.c.sender_name,
            inbox.c.subject,
            inbox.c.received_at,
            due,
        )
        .select_from(inbox.outerjoin(inbox_handling, inbox_handling.c.inbox_id == inbox.c.id))
        .where(
            inbox.c.office_id == office_id,
            inbox.c.verdict == InboxVerdict.VERIFIED,
            _unsent(user_id, kind),
        )
    )
    if assigned_only:
        stmt = stmt.where(inbox_handling.c.assignee_id == user_id)
    return stmt


def _rows(conn: Connection, stmt: Select[Any]) -> list[NoticeRow]:
    return [
        NoticeRow(
            inbox_id=int(r.id),
            document_id=r.document_id,
            sender=r.sender,
            sender_name=r.sender_name,
            subject=r.subject,
            received_at=as_utc(r.received_at),
            due=r.due,
        )
        for r in conn.execute(stmt)
    ]


def unsent_new(
    conn: Connection,
    office_id: str,
    user_id: int,
    *,
    since: dt.datetime,
    assigned_only: bool,
    limit: int,
) -> list[NoticeRow]:
    """Verified documents received after ``since`` that ``user_id`` was not told about
    (``assigned_only``: only those assigned to them), oldest first, at most ``limit``."""
    stmt = (
        _select(office_id, user_id, NEW, assigned_only)
        .where(inbox.c.received_at > since)
        .order_by(inbox.c.received_at, inbox.c.id)
        .limit(limit)
    )
    return _rows(conn, stmt)


def unsent_overdue(
    conn: Connection,
    office_id: str,
    user_id: int,
    *,
    today: dt.date,
    assigned_only: bool,
    limit: int,
) -> list[NoticeRow]:
    """Verified documents not finished whose deadline (or due date) is before ``today``
    that ``user_id`` was not told about, the most overdue first, at most ``limit``."""
    due = func.coalesce(inbox_handling.c.deadline, inbox.c.due_date)
    stmt = _select(office_id, user_id, OVERDUE, assigned_only)
    stmt = (
        stmt.where(
            and_(due.is_not(None), due < today.isoformat(), inbox.c.clerk_state.not_in(_FINISHED))
        )
        .order_by(due, inbox.c.id)
        .limit(limit)
    )
    return _rows(conn, stmt)


def mark_sent(
    conn: Connection, *, user_id: int, kind: str, inbox_id: int, now: dt.datetime
) -> None:
    """Record that ``user_id`` was told about ``inbox_id`` (a second record is a no-op)."""
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        make(notifications_sent)
        .values(user_id=user_id, kind=kind, inbox_id=inbox_id, sent_at=now)
        .on_conflict_do_nothing()
    )
