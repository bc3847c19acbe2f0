"""Workers: one row per daemon process, beaten by a background thread; the liveness of
every claim the process holds (procrastinate's model, not a heartbeat per row).

A claim (an outbox row in ``sending``, an inbox claim) names its worker. It is *dead*, and
may be taken over, when its worker stopped (cleanly, or replaced by the next start of the
same worker name) or has not beaten since ``stale_before``; :func:`dead_claim` is that one
rule, used by the outbox's reclaim query and by the inbox's claims. A claim made without a
worker row (a one-shot command, or a row from before revision 0002) lives by its own
``heartbeat_at``, as before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)

from ..vntime import as_utc
from .tables import OutboxState, inbox, inbox_claims, outbox, status_history, workers

__all__ = [
    "PreviousRun",
    "Stuck",
    "beat",
    "dead_claim",
    "oldest_stuck",
    "register",
    "stop",
    "workers_of",
]

#: Stopped workers' rows are kept this long (an operator may look who ran when), then pruned.
KEEP_STOPPED = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class PreviousRun:
    """A worker row of the same name that had not stopped when this one started."""

    id: int
    host: str
    pid: int
    heartbeat_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Stuck:
    """The oldest work held longer than stale_after: what /healthz names."""

    kind: str  #: "outbox" (a row in sending) or "claim" (an incoming item)
    key: str  #: the outbox row id, or the axis DocId
    holder: str
    since: dt.datetime
    count: int  #: how many are held that long, of both kinds


def dead_claim(table: Table, stale_before: dt.datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    """True for a row of ``table`` (outbox or inbox_claims) whose holder is gone.

    Gone: no worker row and its own heartbeat older than ``stale_before``; or its worker
    row stopped, beat last before ``stale_before``, or no longer exists.
    """
    live_worker = exists().where(
        workers.c.id == table.c.worker_id,
        workers.c.stopped_at.is_(None),
        workers.c.heartbeat_at >= stale_before,
    )
    return or_(
        and_(table.c.worker_id.is_(None), table.c.heartbeat_at < stale_before),
        and_(table.c.worker_id.is_not(None), ~live_worker),
    )


def register(
    conn: Connection,
    *,
    name: str,
    host: str,
    pid: int,
    now: dt.datetime,
    stale_before: dt.datetime,
) -> tuple[int, list[PreviousRun]]:
    """Add this process's worker row; return its id and the previous runs it replaced.

    A row of the same name that never said it stopped belongs to a previous run of this
    worker (the process died, or the machine restarted): it is marked stopped now, so its
    claims are taken over at once instead of after stale_after. A name must therefore be
    used by one running process at a time (the default, host and pid, is). Rows of other
    workers that died (no beat since ``stale_before``) are marked stopped at their last
    beat, so the table says who runs.
    """
    conn.execute(
        update(workers)
        .where(workers.c.stopped_at.is_(None), workers.c.heartbeat_at < stale_before)
        .values(stopped_at=workers.c.heartbeat_at)
    )
    previous = [
        PreviousRun(int(r.id), str(r.host), int(r.pid), r.heartbeat_at)
        for r in conn.execute(
            update(workers)
            .where(workers.c.name == name, workers.c.stopped_at.is_(None))
            .values(stopped_at=now)
            .returning(workers.c.id, workers.c.host, workers.c.pid, workers.c.heartbeat_at)
        )
    ]
    conn.execute(delete(workers).where(workers.c.stopped_at < now - KEEP_STOPPED))
    worker_id = conn.execute(
        insert(workers)
        .values(name=name, host=host, pid=pid, started_at=now, heartbeat_at=now)
        .returning(workers.c.id)
    ).scalar_one()
    return int(worker_id), previous


def beat(conn: Connection, worker_id: int, now: dt.datetime) -> bool:
    """Say the worker is alive; False when its row says it stopped: another process
    marked it so (one started under the same name, or found this one silent for longer
    than stale_after), and its work may have been taken over."""
    result = conn.execute(
        update(workers)
        .where(workers.c.id == worker_id, workers.c.stopped_at.is_(None))
        .values(heartbeat_at=now)
    )
    return result.rowcount == 1


def stop(conn: Connection, worker_id: int, now: dt.datetime, *, release: bool) -> int:
    """Mark the worker stopped, so that its claims are free at once; with ``release`` also
    put its ``sending`` rows back in the queue and drop its claims on items not stored.

    Claims on stored items stay: they say the acknowledgement is still to be recorded, and
    the next worker (any, since this one stopped) records it. ``release=False`` is for a
    stop that gave up waiting for a busy loop: that loop may still be writing. Returns how
    many rows and claims were released.
    """
    conn.execute(
        update(workers).where(workers.c.id == worker_id).values(stopped_at=now, heartbeat_at=now)
    )
    if not release:
        return 0
    rows = conn.execute(
        update(outbox)
        .where(outbox.c.state == OutboxState.SENDING, outbox.c.worker_id == worker_id)
        .values(
            state=OutboxState.QUEUED,
            claimed_by=None,
            worker_id=None,
            next_attempt_at=now,
            updated_at=now,
        )
    ).rowcount
    stored = exists().where(
        inbox.c.office_id == inbox_claims.c.office_id,
        inbox.c.axis_doc_id == inbox_claims.c.axis_doc_id,
    )
    recorded = exists().where(
        status_history.c.office_id == inbox_claims.c.office_id,
        status_history.c.direction == "in",
        status_history.c.axis_doc_id == inbox_claims.c.axis_doc_id,
    )
    claims = conn.execute(
        delete(inbox_claims).where(inbox_claims.c.worker_id == worker_id, ~stored, ~recorded)
    ).rowcount
    return int(rows) + int(claims)


def oldest_stuck(conn: Connection, office_id: str, *, held_before: dt.datetime) -> Stuck | None:
    """The oldest ``sending`` row or inbox claim of the office held since before
    ``held_before`` (whoever holds it, alive or not), with how many there are."""
    rows = conn.execute(
        select(outbox.c.id, outbox.c.claimed_by, outbox.c.updated_at)
        .where(
            outbox.c.office_id == office_id,
            outbox.c.state == OutboxState.SENDING,
            outbox.c.updated_at < held_before,
        )
        .order_by(outbox.c.updated_at)
    ).all()
    claims = conn.execute(
        select(inbox_claims.c.axis_doc_id, inbox_claims.c.claimed_by, inbox_claims.c.heartbeat_at)
        .where(inbox_claims.c.office_id == office_id, inbox_claims.c.heartbeat_at < held_before)
        .order_by(inbox_claims.c.heartbeat_at)
    ).all()
    found = [("outbox", str(r[0]), str(r[1] or ""), r[2]) for r in rows[:1]]
    found += [("claim", str(c[0]), str(c[1]), c[2]) for c in claims[:1]]
    if not found:
        return None
    kind, key, holder, since = min(found, key=lambda f: as_utc(f[3]))
    return Stuck(kind, key, holder, as_utc(since), len(rows) + len(claims))


def workers_of(conn: Connection, name: str | None = None) -> list[dict[str, Any]]:
    """Worker rows (of one name, when given), newest first: for operators and tests."""
    query = select(workers).order_by(workers.c.id.desc())
    if name is not None:
        query = query.where(workers.c.name == name)
    return [dict(row._mapping) for row in conn.execute(query)]
