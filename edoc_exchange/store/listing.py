"""The office's work list: one listing of the axis feeds every daemon of the office.

A daemon that finds nothing to take lists the axis and adds what it saw (one statement);
daemons then *take* a few items at a time, turning them into claims (:mod:`.inbox`), with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that daemons never wait for each other's
items. Without this, every daemon walked the whole list and opened a claim transaction
per item, and the CPU per document grew with the number of daemons.

The list holds only what the axis said. A row lost (taken by a daemon that died before
claiming) loses nothing: the item stays listed at the axis until acknowledged, and the
next listing adds it again.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..vntime import as_utc
from .tables import InboxVerdict, inbox, inbox_claims, inbox_work, office_polls
from .workers import dead_claim

__all__ = [
    "Listed",
    "Stored",
    "add_listed",
    "has_listed",
    "listed_count",
    "may_poll",
    "polled_recently",
    "take_listed",
]

_TS = DateTime(timezone=True)

#: Rows per INSERT of a listing: SQLite allows 32,766 bound parameters per statement.
_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class Stored:
    """What an item already stored needs to be acknowledged again."""

    verdict: InboxVerdict
    document_id: str


@dataclass(frozen=True, slots=True)
class Listed:
    """An item of the axis's list, as a daemon took it: claimed by it to fetch and store,
    or (``stored``) to acknowledge again."""

    axis_doc_id: str
    sender: str | None
    stored: Stored | None = None


@dataclass(frozen=True)
class _Statements:
    """The work list's statements, built once per dialect: values come as parameters, so
    SQLAlchemy compiles each once and afterwards only binds (a daemon runs them for every
    few documents)."""

    add: Any
    take: Any
    claim: Any
    take_over: Any
    stored: Any
    give_back: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    office = inbox_work.c.office_id == bindparam("p_office")
    # A CTE, evaluated once: PostgreSQL may run an IN (... LIMIT) subquery of a DELETE more
    # than once, taking more than ``limit`` rows.
    oldest = (
        select(inbox_work.c.axis_doc_id)
        .where(office)
        .order_by(inbox_work.c.listed_at, inbox_work.c.axis_doc_id)
        .limit(bindparam("p_limit"))
        .with_for_update(skip_locked=True)  # not rendered on SQLite (its writer lock serialises)
        .cte("oldest")
        .prefix_with("MATERIALIZED")
    )
    claims = and_(
        inbox_claims.c.office_id == bindparam("p_office"),
        inbox_claims.c.axis_doc_id.in_(bindparam("p_ids", expanding=True)),
    )
    return _Statements(
        add=make(inbox_work).on_conflict_do_nothing(),
        take=delete(inbox_work)
        .where(office, inbox_work.c.axis_doc_id.in_(select(oldest.c.axis_doc_id)))
        .returning(inbox_work.c.axis_doc_id, inbox_work.c.sender),
        claim=make(inbox_claims).on_conflict_do_nothing().returning(inbox_claims.c.axis_doc_id),
        # A claim whose holder is gone (died between claiming and recording), or one made
        # under this worker's own name (a previous run of it), is taken over.
        take_over=update(inbox_claims)
        .where(
            claims,
            or_(
                inbox_claims.c.claimed_by == bindparam("p_worker"),
                dead_claim(inbox_claims, bindparam("p_stale", type_=_TS)),
            ),
        )
        .values(
            claimed_by=bindparam("p_worker"),
            heartbeat_at=bindparam("p_now"),
            worker_id=bindparam("p_worker_id"),
        )
        .returning(inbox_claims.c.axis_doc_id),
        stored=select(inbox.c.axis_doc_id, inbox.c.verdict, inbox.c.document_id).where(
            inbox.c.office_id == bindparam("p_office"),
            inbox.c.axis_doc_id.in_(bindparam("p_ids", expanding=True)),
        ),
        give_back=delete(inbox_claims).where(claims),
    )


def may_poll(
    conn: Connection,
    office_id: str,
    kind: str,
    *,
    worker: str,
    now: dt.datetime,
    every: dt.timedelta,
) -> bool:
    """Whether this worker lists the office's ``kind`` at the axis now: True for one of the
    office's daemons per ``every`` (it is recorded as the one that polled), False for the
    others, which take from the work list instead. One statement (a caller that wants to
    stay off the write lock asks :func:`polled_recently` first, in a read)."""
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    row = {"office_id": office_id, "kind": kind, "polled_at": now, "polled_by": worker}
    statement = make(office_polls).values(row)
    statement = statement.on_conflict_do_update(
        index_elements=[office_polls.c.office_id, office_polls.c.kind],
        set_={"polled_at": statement.excluded.polled_at, "polled_by": statement.excluded.polled_by},
        where=office_polls.c.polled_at <= now - every,
    )
    return conn.execute(statement.returning(office_polls.c.office_id)).first() is not None


def polled_recently(
    conn: Connection, office_id: str, kind: str, *, now: dt.datetime, every: dt.timedelta
) -> bool:
    """Whether one of the office's daemons listed ``kind`` less than ``every`` ago (a read:
    what an idle daemon asks before it tries :func:`may_poll`)."""
    last = conn.execute(
        select(office_polls.c.polled_at).where(
            office_polls.c.office_id == office_id, office_polls.c.kind == kind
        )
    ).scalar_one_or_none()
    return last is not None and as_utc(last) > now - every


def has_listed(conn: Connection, office_id: str) -> bool:
    """Whether the office's work list has anything to take (a read, before taking)."""
    return (
        conn.execute(
            select(inbox_work.c.axis_doc_id).where(inbox_work.c.office_id == office_id).limit(1)
        ).first()
        is not None
    )


def add_listed(
    conn: Connection,
    office_id: str,
    items: Sequence[tuple[str, str | None]],
    *,
    now: dt.datetime,
    stale_before: dt.datetime,
    worker: str,
) -> int:
    """Add (axis DocId, sender) pairs a listing returned; return how many were added.

    Left out: items another live worker holds (being fetched, stored, acknowledged: the
    axis lists them until then) and items stored and acknowledged (they will leave the
    list); ``worker``'s own claims are kept in (a leftover of its earlier pass is
    acknowledged again from the list);
    items already in the work list stay as they are. Two statements per 2,000 items.
    """
    add = _statements(conn.dialect.name).add
    added = 0
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        ids = [doc_id for doc_id, _ in chunk]
        held = select(inbox_claims.c.axis_doc_id).where(
            inbox_claims.c.office_id == office_id,
            inbox_claims.c.axis_doc_id.in_(ids),
            inbox_claims.c.claimed_by != worker,
            ~dead_claim(inbox_claims, stale_before),
        )
        claim_of_row = exists().where(
            inbox_claims.c.office_id == inbox.c.office_id,
            inbox_claims.c.axis_doc_id == inbox.c.axis_doc_id,
        )
        done = select(inbox.c.axis_doc_id).where(
            inbox.c.office_id == office_id, inbox.c.axis_doc_id.in_(ids), ~claim_of_row
        )
        skip = set(conn.execute(union(held, done)).scalars())
        rows = [
            {"office_id": office_id, "axis_doc_id": doc_id, "sender": sender, "listed_at": now}
            for doc_id, sender in chunk
            if doc_id not in skip
        ]
        if rows:
            conn.execute(add.values(rows))
            added += len(rows)
    return added


def listed_count(conn: Connection, office_id: str) -> int:
    """How many listed items no daemon has taken yet."""
    return int(
        conn.execute(
            select(func.count()).select_from(inbox_work).where(inbox_work.c.office_id == office_id)
        ).scalar_one()
    )


def take_listed(
    conn: Connection,
    *,
    office_id: str,
    worker: str,
    worker_id: int | None,
    now: dt.datetime,
    stale_before: dt.datetime,
    limit: int,
) -> list[Listed]:
    """Take up to ``limit`` listed items, oldest listing first, and claim them for ``worker``.

    Three statements, whatever ``limit`` is (one more when a claim is to be taken over,
    or given back). Items whose claim a live worker holds are dropped, and so are stored
    items without a claim (acknowledged and recorded: they will leave the list). What is
    returned is claimed: the caller fetches, stores and acknowledges it, then releases the
    claim; or, for a stored item whose claim is this worker's or a dead one's
    (``Listed.stored``), acknowledges it again.
    """
    sql = _statements(conn.dialect.name)
    taken = conn.execute(sql.take, {"p_office": office_id, "p_limit": limit}).all()
    if not taken:
        return []
    senders = {str(row.axis_doc_id): row.sender for row in taken}
    # Claim first, then look at the inbox: a claim this worker holds cannot be released
    # by another, so what the inbox shows next is final for these items.
    inserted = set(
        conn.execute(
            sql.claim.values(
                [
                    {
                        "office_id": office_id,
                        "axis_doc_id": doc_id,
                        "claimed_by": worker,
                        "heartbeat_at": now,
                        "worker_id": worker_id,
                    }
                    for doc_id in senders
                ]
            )
        ).scalars()
    )
    held = [doc_id for doc_id in senders if doc_id not in inserted]
    taken_over: set[str] = set()
    if held:
        params = {
            "p_office": office_id,
            "p_ids": held,
            "p_worker": worker,
            "p_worker_id": worker_id,
            "p_now": now,
            "p_stale": stale_before,
        }
        taken_over = set(conn.execute(sql.take_over, params).scalars())
    mine = inserted | taken_over
    if not mine:
        return []
    stored = {
        str(row.axis_doc_id): row
        for row in conn.execute(sql.stored, {"p_office": office_id, "p_ids": sorted(mine)})
    }
    # Stored, and the claim was new: its acknowledgement is recorded already (recording
    # removes the claim) and it will leave the list; give the new claim back.
    done = [doc_id for doc_id in stored if doc_id in inserted]
    if done:
        conn.execute(sql.give_back, {"p_office": office_id, "p_ids": done})
    result: list[Listed] = []
    for doc_id, sender in senders.items():
        if doc_id not in mine or doc_id in done:
            continue
        row = stored.get(doc_id)
        if row is None:
            result.append(Listed(doc_id, sender))
        else:  # stored by a worker that did not record its acknowledgement: do it now
            verdict = InboxVerdict(row.verdict)
            result.append(Listed(doc_id, None, Stored(verdict, str(row.document_id))))
    return result
