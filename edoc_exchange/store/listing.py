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
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .tables import InboxVerdict, inbox, inbox_claims, inbox_work
from .workers import dead_claim

__all__ = ["Listed", "Stored", "add_listed", "listed_count", "take_listed"]

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


def add_listed(
    conn: Connection,
    office_id: str,
    items: Sequence[tuple[str, str | None]],
    *,
    now: dt.datetime,
) -> None:
    """Add (axis DocId, sender) pairs a listing returned; items already there stay as they
    are (one statement per 2,000 items)."""
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(items), _CHUNK):
        rows = [
            {"office_id": office_id, "axis_doc_id": doc_id, "sender": sender, "listed_at": now}
            for doc_id, sender in items[start : start + _CHUNK]
        ]
        conn.execute(make(inbox_work).values(rows).on_conflict_do_nothing())


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

    Four statements, whatever ``limit`` is (five when a claim is to be taken over). Items
    whose claim a live worker holds are
    dropped, and so are stored items without a claim (acknowledged and recorded: they
    will leave the list). What is returned is claimed: the caller fetches, stores and
    acknowledges it, then releases the claim; or, for a stored item whose claim is this
    worker's or a dead one's (``Listed.stored``), acknowledges it again.
    """
    # A CTE, evaluated once: PostgreSQL may run an IN (... LIMIT) subquery of a DELETE more
    # than once, taking more than ``limit`` rows.
    oldest = (
        select(inbox_work.c.axis_doc_id)
        .where(inbox_work.c.office_id == office_id)
        .order_by(inbox_work.c.listed_at, inbox_work.c.axis_doc_id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # not rendered on SQLite (its writer lock serialises)
        .cte("oldest")
        .prefix_with("MATERIALIZED")
    )
    taken = conn.execute(
        delete(inbox_work)
        .where(
            inbox_work.c.office_id == office_id,
            inbox_work.c.axis_doc_id.in_(select(oldest.c.axis_doc_id)),
        )
        .returning(inbox_work.c.axis_doc_id, inbox_work.c.sender)
    ).all()
    if not taken:
        return []
    senders = {str(row.axis_doc_id): row.sender for row in taken}
    # Claim first, then look at the inbox: a claim this worker holds cannot be released
    # by another, so what the inbox shows next is final for these items.
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    inserted = set(
        conn.execute(
            make(inbox_claims)
            .values(
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
            .on_conflict_do_nothing()
            .returning(inbox_claims.c.axis_doc_id)
        ).scalars()
    )
    held = [doc_id for doc_id in senders if doc_id not in inserted]
    taken_over: set[str] = set()
    if held:
        # A claim whose holder is gone (died between claiming and recording), or one made
        # under this worker's own name (a previous run of it), is taken over.
        taken_over = set(
            conn.execute(
                update(inbox_claims)
                .where(
                    inbox_claims.c.office_id == office_id,
                    inbox_claims.c.axis_doc_id.in_(held),
                    or_(
                        inbox_claims.c.claimed_by == worker, dead_claim(inbox_claims, stale_before)
                    ),
                )
                .values(claimed_by=worker, heartbeat_at=now, worker_id=worker_id)
                .returning(inbox_claims.c.axis_doc_id)
            ).scalars()
        )
    mine = inserted | taken_over
    if not mine:
        return []
    stored = {
        str(row.axis_doc_id): row
        for row in conn.execute(
            select(inbox.c.axis_doc_id, inbox.c.verdict, inbox.c.document_id).where(
                inbox.c.office_id == office_id, inbox.c.axis_doc_id.in_(mine)
            )
        )
    }
    # Stored, and the claim was new: its acknowledgement is recorded already (recording
    # removes the claim) and it will leave the list; give the new claim back.
    done = [doc_id for doc_id in stored if doc_id in inserted]
    if done:
        conn.execute(
            delete(inbox_claims).where(
                inbox_claims.c.office_id == office_id, inbox_claims.c.axis_doc_id.in_(done)
            )
        )
    result: list[Listed] = []
    for doc_id, sender in senders.items():
        if doc_id not in mine or doc_id in done:
            continue
        row = stored.get(doc_id)
        if row is None:
            result.append(Listed(doc_id, sender))
        else:  # stored by a worker that did not record its acknowledgement: do it now
            result.append(
                Listed(doc_id, None, Stored(InboxVerdict(row.verdict), str(row.document_id)))
            )
    return result
