"""The incoming documents as the office's staff work them: the paged list and its search,
the incoming register (sổ văn bản đến) and the assignments (phân công).

The list is one statement over ``inbox`` with its register entry, its assignment and the
assignee's name joined in, newest first (by id: ids grow as rows are stored), a page at a
time, and one COUNT with the same conditions. Search is a LIKE on ``search_text`` (folded:
lower case, no accents) with the folded query, so "ke hoach" finds "Kế hoạch"; it scans
the office's rows, which at a commune's volume (ten thousand a year) takes milliseconds.

A register number is taken like an outgoing one (:mod:`.register`): by inserting its row
under the key (office, year, number) in a savepoint, and reading again after a clash; the
unique ``inbox_id`` makes a document registered once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from .db import StoreError, as_utc
from .search import fold
from .tables import InboxVerdict, inbox, inbox_handling, incoming_register, users

__all__ = [
    "Assignment",
    "IncomingQuery",
    "ListedIncoming",
    "RegisterEntry",
    "assign",
    "assignment_of",
    "count_any",
    "count_incoming",
    "handling_between",
    "list_incoming",
    "register",
    "registration_of",
]

#: Clashes tolerated before giving up: each one means another clerk took a number.
_ATTEMPTS = 50
#: The states after which a document is no longer due (refused, done).
_CLOSED = ("02", "06")


@dataclass(frozen=True)
class IncomingQuery:
    """Which received documents to list; every criterion given must hold."""

    state: str | None = None  #: a clerk state (StatusCode text)
    sender: str | None = None  #: the sender's OrganId
    received_from: dt.datetime | None = None  #: received at or after
    received_before: dt.datetime | None = None  #: received before
    received_after: dt.datetime | None = None  #: received strictly after (what is new)
    #: "due": has a due date and is still open; "overdue": its due date is before ``today``
    #: and it is still open. The due date is the assignment's deadline, else the sender's.
    due: str | None = None
    today: dt.date | None = None
    assignee_id: int | None = None  #: assigned to this user
    assigned_after: dt.datetime | None = None  #: assigned (to ``assignee_id``) after
    search: str | None = None  #: words looked for in the folded search text


@dataclass(frozen=True)
class ListedIncoming:
    """One row of the incoming list (no bytes)."""

    id: int
    document_id: str
    sender: str
    sender_name: str | None
    subject: str | None
    code: str | None
    doc_type: str | None
    priority: int | None
    due_date: str | None
    received_at: dt.datetime
    clerk_state: str
    verified: bool
    register_number: int | None
    register_year: int | None
    assignee_id: int | None
    assignee_name: str | None
    deadline: str | None


@dataclass(frozen=True)
class RegisterEntry:
    """A document's line in the incoming register."""

    number: int
    year: int
    registered_at: dt.datetime
    registered_by: int | None
    registered_by_name: str | None


@dataclass(frozen=True)
class Assignment:
    """Who handles a document, by when, and who said so."""

    assignee_id: int
    assignee_name: str
    deadline: str | None
    assigned_by: int | None
    assigned_by_name: str | None
    assigned_at: dt.datetime
    note: str | None


def _due_date() -> Any:
    return func.coalesce(inbox_handling.c.deadline, inbox.c.due_date)


def _conditions(office_id: str, query: IncomingQuery) -> list[Any]:
    where: list[Any] = [inbox.c.office_id == office_id]
    if query.state:
        where.append(inbox.c.clerk_state == query.state)
    if query.sender:
        where.append(inbox.c.sender == query.sender)
    if query.received_from is not None:
        where.append(inbox.c.received_at >= query.received_from)
    if query.received_before is not None:
        where.append(inbox.c.received_at < query.received_before)
    if query.received_after is not None:
        where.append(inbox.c.received_at > query.received_after)
    if query.due in ("due", "overdue"):
        where.append(_due_date().is_not(None))
        where.append(inbox.c.verdict == InboxVerdict.VERIFIED)
        where.append(not_(inbox.c.clerk_state.in_(_CLOSED)))
        if query.due == "overdue":
            today = query.today or dt.date.today()
            where.append(_due_date() < today.isoformat())
    if query.assignee_id is not None:
        where.append(inbox_handling.c.assignee_id == query.assignee_id)
        if query.assigned_after is not None:
            where.append(inbox_handling.c.assigned_at > query.assigned_after)
    if query.search:
        for word in fold(query.search).split()[:8]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(inbox.c.search_text.like(f"%{escaped}%", escape="\\"))
    return where


def _joins() -> Any:
    return inbox.outerjoin(inbox_handling, inbox_handling.c.inbox_id == inbox.c.id)


def _needs_handling(query: IncomingQuery) -> bool:
    return query.due in ("due", "overdue") or query.assignee_id is not None


def list_incoming(
    conn: Connection, office_id: str, query: IncomingQuery, *, limit: int, offset: int = 0
) -> list[ListedIncoming]:
    """A page of the office's received documents matching ``query``, newest first."""
    assignee = users.alias("assignee")
    statement: Select[Any] = (
        select(
            inbox.c.id,
            inbox.c.document_id,
            inbox.c.sender,
            inbox.c.sender_name,
            inbox.c.subject,
            inbox.c.code,
            inbox.c.doc_type,
            inbox.c.priority,
            inbox.c.due_date,
            inbox.c.received_at,
            inbox.c.clerk_state,
            inbox.c.verdict,
            incoming_register.c.number,
            incoming_register.c.year,
            inbox_handling.c.assignee_id,
            assignee.c.full_name,
            inbox_handling.c.deadline,
        )
        .select_from(
            _joins()
            .outerjoin(incoming_register, incoming_register.c.inbox_id == inbox.c.id)
            .outerjoin(assignee, assignee.c.id == inbox_handling.c.assignee_id)
        )
        .where(and_(*_conditions(office_id, query)))
        .order_by(inbox.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        ListedIncoming(
            id=int(r.id),
            document_id=r.document_id,
            sender=r.sender,
            sender_name=r.sender_name,
            subject=r.subject,
            code=r.code,
            doc_type=r.doc_type,
            priority=r.priority,
            due_date=r.due_date,
            received_at=as_utc(r.received_at),
            clerk_state=r.clerk_state,
            verified=r.verdict == InboxVerdict.VERIFIED,
            register_number=r.number,
            register_year=r.year,
            assignee_id=r.assignee_id,
            assignee_name=r.full_name,
            deadline=r.deadline,
        )
        for r in conn.execute(statement)
    ]


def count_incoming(conn: Connection, office_id: str, query: IncomingQuery) -> int:
    """How many received documents match ``query`` (the list's total)."""
    source = _joins() if _needs_handling(query) else inbox
    statement = (
        select(func.count(literal(1)))
        .select_from(source)
        .where(and_(*_conditions(office_id, query)))
    )
    return int(conn.execute(statement).scalar_one())


def count_any(conn: Connection, office_id: str, queries: Sequence[IncomingQuery]) -> int:
    """How many received documents match at least one of ``queries`` (each counted once:
    the badge's new and overdue documents may be the same one)."""
    if not queries:
        return 0
    source = _joins() if any(_needs_handling(q) for q in queries) else inbox
    either = or_(*(and_(*_conditions(office_id, q)) for q in queries))
    statement = select(func.count(literal(1))).select_from(source).where(either)
    return int(conn.execute(statement).scalar_one())


def registration_of(conn: Connection, inbox_id: int) -> RegisterEntry | None:
    """The register line of a document, or None when it was not registered."""
    by = users.alias("by")
    row = conn.execute(
        select(
            incoming_register.c.number,
            incoming_register.c.year,
            incoming_register.c.registered_at,
            incoming_register.c.registered_by,
            by.c.full_name,
        )
        .select_from(
            incoming_register.outerjoin(by, by.c.id == incoming_register.c.registered_by)
        )
        .where(incoming_register.c.inbox_id == inbox_id)
    ).one_or_none()
    if row is None:
        return None
    return RegisterEntry(
        int(row.number), int(row.year), as_utc(row.registered_at), row.registered_by,
        row.full_name,
    )


def register(
    conn: Connection,
    *,
    office_id: str,
    inbox_id: int,
    year: int,
    now: dt.datetime,
    by: int | None,
) -> int:
    """Enter a document in the incoming register of ``year`` under the next number.

    Raises StoreError when the document is registered already, or when clashes go on.
    """
    if registration_of(conn, inbox_id) is not None:
        raise StoreError(
            "Văn bản này đã được vào sổ văn bản đến",
            "this document is already in the incoming register",
            step="register.incoming",
        )
    for _ in range(_ATTEMPTS):
        highest = conn.execute(
            select(func.max(incoming_register.c.number)).where(
                incoming_register.c.office_id == office_id, incoming_register.c.year == year
            )
        ).scalar_one()
        number = int(highest or 0) + 1
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(incoming_register).values(
                        office_id=office_id,
                        year=year,
                        number=number,
                        inbox_id=inbox_id,
                        registered_at=now,
                        registered_by=by,
                    )
                )
        except IntegrityError:
            if registration_of(conn, inbox_id) is not None:
                raise StoreError(
                    "Văn bản này vừa được người khác vào sổ",
                    "someone else registered this document just now",
                    step="register.incoming",
                ) from None
            continue  # another clerk took the number: read again
        return number
    raise StoreError(
        f"Không lấy được số đến sau {_ATTEMPTS} lần thử; thử lại sau",
        f"could not take an incoming number after {_ATTEMPTS} attempts; try again later",
        step="register.incoming",
    )


def assignment_of(conn: Connection, inbox_id: int) -> Assignment | None:
    """Who handles a document (the latest assignment), or None."""
    who, by = users.alias("who"), users.alias("by")
    row = conn.execute(
        select(
            inbox_handling.c.assignee_id,
            who.c.full_name.label("assignee_name"),
            inbox_handling.c.deadline,
            inbox_handling.c.assigned_by,
            by.c.full_name.label("by_name"),
            inbox_handling.c.assigned_at,
            inbox_handling.c.note,
        )
        .select_from(
            inbox_handling.join(who, who.c.id == inbox_handling.c.assignee_id).outerjoin(
                by, by.c.id == inbox_handling.c.assigned_by
            )
        )
        .where(inbox_handling.c.inbox_id == inbox_id)
    ).one_or_none()
    if row is None:
        return None
    return Assignment(
        int(row.assignee_id), row.assignee_name, row.deadline, row.assigned_by, row.by_name,
        as_utc(row.assigned_at), row.note,
    )


def assign(
    conn: Connection,
    *,
    office_id: str,
    inbox_id: int,
    assignee_id: int,
    deadline: str | None,
    by: int | None,
    now: dt.datetime,
    note: str | None = None,
) -> None:
    """Give a document to ``assignee_id`` (replacing an earlier assignment)."""
    values = {
        "assignee_id": assignee_id,
        "deadline": deadline,
        "assigned_by": by,
        "assigned_at": now,
        "note": note,
    }
    changed = conn.execute(
        update(inbox_handling)
        .where(inbox_handling.c.inbox_id == inbox_id, inbox_handling.c.office_id == office_id)
        .values(**values)
    )
    if changed.rowcount == 0:
        conn.execute(
            insert(inbox_handling).values(inbox_id=inbox_id, office_id=office_id, **values)
        )



@dataclass(frozen=True)
class Handled:
    """A verified document received in a period, with what its handling needs: its due
    date (the assignment's deadline, else the sender's DueDate) and its clerk state."""

    id: int
    document_id: str
    sender: str
    deadline: str | None
    sender_due_date: str | None
    clerk_state: str
    state_changed_at: dt.datetime

    @property
    def due(self) -> str | None:
        return self.deadline or self.sender_due_date


def handling_between(
    conn: Connection, office_id: str, start: dt.datetime, end: dt.datetime
) -> list[Handled]:
    """Verified documents received in ``[start, end)`` with their deadlines and states (for
    the share handled on time), oldest first."""
    rows = conn.execute(
        select(
            inbox.c.id,
            inbox.c.document_id,
            inbox.c.sender,
            inbox_handling.c.deadline,
            inbox.c.due_date,
            inbox.c.clerk_state,
            inbox.c.state_changed_at,
        )
        .select_from(_joins())
        .where(
            inbox.c.office_id == office_id,
            inbox.c.verdict == InboxVerdict.VERIFIED,
            inbox.c.received_at >= start,
            inbox.c.received_at < end,
        )
        .order_by(inbox.c.received_at, inbox.c.id)
    )
    return [
        Handled(
            int(r.id), r.document_id, r.sender, r.deadline, r.due_date, r.clerk_state,
            as_utc(r.state_changed_at),
        )
        for r in rows
    ]
