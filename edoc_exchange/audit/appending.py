"""Appending events: a step's events in one statement, under one head lock taken last.

Appends happen inside the caller's transaction, so a state change and its events commit
together or not at all, and they are strictly ordered per office by the office's head row
(``audit_heads``: the size of the log and the hash of its last entry). A transaction
collects its events in a :class:`Pending` as it goes (each validated and serialised when
added), and :func:`flush` writes them all at once, as the transaction's last work:

1. lock and read the head: ``SELECT size, last_hash … FOR UPDATE`` (SQLite has no row
   locks and needs none: a write transaction holds the database's write lock from its
   ``BEGIN IMMEDIATE``);
2. chain the events in Python (each entry names the previous one's hash);
3. write them: on PostgreSQL one statement, ``WITH appended AS (INSERT INTO audit_entries
   … SELECT … FROM unnest(:seqs, :events, …)) UPDATE audit_heads SET size = :new_size,
   last_hash = :new_hash WHERE … AND size = :old_size AND last_hash = :old_hash``; on
   SQLite one ``executemany`` of a prepared single-row ``INSERT`` (SQLite is in-process:
   there is no round trip to save) and that ``UPDATE``.

So a flush is 2 statements on PostgreSQL and 3 calls into SQLite, whatever the number of
events, and the head stays locked only from step 1 to the commit. The ``UPDATE`` is a
compare-and-set on the head it read: if it matches nothing (an append outside a write
transaction on SQLite) the flush fails rather than fork the chain.

The head row exists from the office's creation (:func:`create_log`); appending never
creates one, so an unknown office is :class:`AuditLogMissingError`, not a second log.

Every statement is a Core construct built once, here, with bound parameters (SQLAlchemy
caches its compiled form; psycopg prepares a statement it sees repeatedly).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    DateTime,
    String,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..store.db import Database
from ..store.tables import audit_entries, audit_heads
from ._errors import AuditAppendError, AuditDataError, AuditLogMissingError
from .entry import GENESIS, AuditEntry, AuditEvent, canonical_json, entry_body, iso, json_text, now

__all__ = [
    "Pending",
    "append",
    "batch",
    "create_log",
    "ensure_log",
    "flush",
    "locked_head",
]

#: The longest event name the ``audit_entries.event`` column holds.
_EVENT_LENGTH = 40
#: Where :func:`batch` leaves its Pending for :func:`append` to join (``Connection.info``).
_OPEN_BATCHES = "edoc.audit.batches"

_ENTRY_COLUMNS = ("seq", "event", "body", "prev_hash", "entry_hash", "created_at")

_HEAD_FOR_UPDATE = (
    select(audit_heads.c.size, audit_heads.c.last_hash)
    .where(audit_heads.c.office_id == bindparam("office"))
    .with_for_update()  # left out on SQLite, whose write transaction is serial anyway
)

_HEAD_EXISTS = select(audit_heads.c.size).where(audit_heads.c.office_id == bindparam("office"))

_MOVE_HEAD = (
    update(audit_heads)
    .where(
        audit_heads.c.office_id == bindparam("office"),
        audit_heads.c.size == bindparam("old_size"),
        audit_heads.c.last_hash == bindparam("old_hash"),
    )
    .values(size=bindparam("new_size"), last_hash=bindparam("new_hash"))
)

_UNNESTED = (
    func.unnest(
        cast(bindparam("seqs"), ARRAY(BigInteger)),
        cast(bindparam("events"), ARRAY(String)),
        cast(bindparam("bodies"), ARRAY(Text)),
        cast(bindparam("prevs"), ARRAY(String)),
        cast(bindparam("hashes"), ARRAY(String)),
        cast(bindparam("times"), ARRAY(DateTime(timezone=True))),
    )
    .table_valued(*_ENTRY_COLUMNS)
    .render_derived(name="entry")
)

#: PostgreSQL: every entry and the head in one statement (the CTE runs whether or not the
#: UPDATE refers to it; the UPDATE's row count is the statement's).
_PG_APPEND = _MOVE_HEAD.add_cte(
    insert(audit_entries)
    .from_select(
        ["office_id", *_ENTRY_COLUMNS],
        select(
            cast(bindparam("office"), String),
            *(_UNNESTED.c[name] for name in _ENTRY_COLUMNS),
        ),
    )
    .cte("appended")
)

_PG_CREATE = (
    postgresql.insert(audit_heads)
    .values(office_id=bindparam("office"), size=0, last_hash=GENESIS)
    .on_conflict_do_nothing(index_elements=[audit_heads.c.office_id])
    .returning(audit_heads.c.office_id)
)
_SQLITE_CREATE = (
    sqlite.insert(audit_heads)
    .values(office_id=bindparam("office"), size=0, last_hash=GENESIS)
    .on_conflict_do_nothing(index_elements=[audit_heads.c.office_id])
    .returning(audit_heads.c.office_id)
)


#: SQLite: the INSERT of one entry, prepared once and run for every row of a flush by one
#: ``executemany`` (sqlite3 steps the prepared statement in C; SQLite is in-process, there
#: are no round trips to save, and a multi-row VALUES would be compiled anew per size).
_INSERT_ENTRY = insert(audit_entries)


@dataclass(frozen=True, slots=True)
class _Event:
    """One event as added: its name, and its parts already written as canonical JSON."""

    event: str
    event_json: str
    data_json: str
    at: dt.datetime
    time_json: str


class Pending:
    """Events of one office collected during a transaction, written by :func:`flush`.

    ``add`` checks and serialises an event at once (a float in its data is an
    :class:`AuditDataError` there, naming the event and the key), and records its time:
    the time the step happened, not the time of the flush. Nothing touches the database
    until :func:`flush`. Build it inside the transaction it belongs to: a transaction that
    is run again (:meth:`~edoc_exchange.store.Database.run`) builds a new one.
    """

    __slots__ = ("_events", "_office_json", "office_id")

    def __init__(self, office_id: str) -> None:
        self.office_id = office_id
        self._office_json = json_text(office_id)
        self._events: list[_Event] = []

    def add(
        self,
        event: AuditEvent | str,
        data: Mapping[str, Any] | None = None,
        *,
        at: dt.datetime | None = None,
    ) -> None:
        """Collect one event; AuditDataError if its name or data cannot be recorded.

        ``data`` must be JSON-able without floats (document ids, hashes, status codes,
        reasons); ``at`` is when it happened (default: now).
        """
        name = str(event)
        if not name or len(name) > _EVENT_LENGTH:
            raise AuditDataError(f"the event name {name!r}", f"a name of {len(name)} characters")
        data_json = canonical_json(dict(data or {}), what=f"the data of event {name!r}")
        when = at or now()
        self._events.append(
            _Event(name, json_text(name), data_json.decode("utf-8"), when, json_text(iso(when)))
        )

    def __len__(self) -> int:
        return len(self._events)

    def _take(self) -> list[_Event]:
        taken, self._events = self._events, []
        return taken


def locked_head(conn: Connection, office_id: str) -> tuple[int, str]:
    """The office's head (size, last hash), locked until the transaction ends.

    Raises AuditLogMissingError when the office has no head row (see :func:`create_log`).
    """
    head = conn.execute(_HEAD_FOR_UPDATE, {"office": office_id}).first()
    if head is None:
        raise AuditLogMissingError(office_id)
    return int(head[0]), str(head[1])


def flush(conn: Connection, pending: Pending) -> list[AuditEntry]:
    """Append the collected events, in order, as one contiguous run of the office's chain.

    Call it last in the transaction, just before the commit: the office's head stays
    locked from here until the transaction ends, and every other writer of the office waits
    for it. ``pending`` is emptied; an empty one costs nothing. Raises
    AuditLogMissingError for an office without a log, AuditAppendError if the head moved
    under the flush (it was not run in a write transaction), and the store's errors.
    """
    events = pending._take()
    if not events:
        return []
    office = pending.office_id
    size, prev = locked_head(conn, office)

    made: list[AuditEntry] = []
    seq = size
    for ev in events:
        body = entry_body(
            data_json=ev.data_json,
            event_json=ev.event_json,
            office_json=pending._office_json,
            prev=prev,
            seq=seq,
            time_json=ev.time_json,
        )
        entry_hash = hashlib.sha256(body).hexdigest()
        made.append(AuditEntry(office, seq, ev.event, body, prev, entry_hash))
        prev, seq = entry_hash, seq + 1

    head = {
        "office": office,
        "old_size": size,
        "old_hash": made[0].prev_hash,
        "new_size": seq,
        "new_hash": prev,
    }
    if conn.dialect.name == "postgresql":
        moved = conn.execute(
            _PG_APPEND,
            head
            | {
                "seqs": [e.seq for e in made],
                "events": [e.event for e in made],
                "bodies": [e.body.decode("utf-8") for e in made],
                "prevs": [e.prev_hash for e in made],
                "hashes": [e.entry_hash for e in made],
                "times": [ev.at for ev in events],
            },
        ).rowcount
    else:
        conn.execute(
            _INSERT_ENTRY,
            [
                {
                    "office_id": office,
                    "seq": entry.seq,
                    "event": entry.event,
                    "body": entry.body.decode("utf-8"),
                    "prev_hash": entry.prev_hash,
                    "entry_hash": entry.entry_hash,
                    "created_at": ev.at,
                }
                for entry, ev in zip(made, events, strict=True)
            ],
        )
        moved = conn.execute(_MOVE_HEAD, head).rowcount
    if moved != 1:
        raise AuditAppendError(
            f"Đầu nhật ký của cơ quan {office} đã thay đổi trong lúc ghi (ghi nhật ký ngoài "
            "giao dịch ghi?): không ghi gì",
            f"the audit head of office {office} moved while appending (an append outside a "
            "write transaction?): nothing was appended",
            step=f"audit append ({office})",
        )
    return made


@contextmanager
def batch(conn: Connection, office_id: str) -> Iterator[Pending]:
    """Collect the office's events of the block and append them together when it ends.

    Inside the block, :func:`append` on ``conn`` for this office joins the batch too, so
    helpers that record their own events (a status reply queued by the receiving step) are
    written in the same flush, in the order they happened. Open it right inside the
    transaction, so that its flush is the transaction's last statement::

        with office.db.transaction() as conn, audit.batch(conn, office.office_id) as events:
            ...store the document...
            events.add(audit.AuditEvent.RECEIVED, {"document_id": ...})
            queue_status(conn, ...)  # its audit.append joins the batch
        # flushed as the block ended (head locked), then committed (head released)

    On an exception nothing is flushed (the transaction rolls back anyway). A batch opened
    inside an open batch of the same office and connection is that batch.
    """
    opened: dict[str, Pending] = conn.info.setdefault(_OPEN_BATCHES, {})
    outer = opened.get(office_id)
    if outer is not None:
        yield outer
        return
    pending = opened[office_id] = Pending(office_id)
    try:
        yield pending
    finally:
        # ``Connection.info`` lives as long as the driver's connection: never leave a batch.
        del opened[office_id]
    flush(conn, pending)


def append(
    conn: Connection,
    office_id: str,
    event: AuditEvent | str,
    data: Mapping[str, Any] | None = None,
    *,
    at: dt.datetime | None = None,
) -> AuditEntry | None:
    """Append one event to the office's log, in the caller's transaction.

    ``data`` must be JSON-able without floats (document ids, hashes, status codes, reasons).
    The entry commits or rolls back with the change it records. Inside a :func:`batch` of
    the office on ``conn`` the event joins the batch and None is returned (its entry is
    made when the batch flushes); otherwise it is a batch of one, flushed at once, and its
    entry is returned.
    """
    opened: dict[str, Pending] | None = conn.info.get(_OPEN_BATCHES)
    joined = opened.get(office_id) if opened else None
    if joined is not None:
        joined.add(event, data, at=at)
        return None
    pending = Pending(office_id)
    pending.add(event, data, at=at)
    return flush(conn, pending)[0]


def create_log(conn: Connection, office_id: str) -> bool:
    """Start the office's log (its head row, empty) if it has none; True if it was made.

    Idempotent and safe when two processes start the same office at once (``INSERT … ON
    CONFLICT DO NOTHING``). Called when an office is set up
    (:class:`~edoc_exchange.office.Office`); appending requires it.
    """
    stmt = _PG_CREATE if conn.dialect.name == "postgresql" else _SQLITE_CREATE
    return conn.execute(stmt, {"office": office_id}).first() is not None


def ensure_log(db: Database, office_id: str) -> bool:
    """Make sure the office's log exists, outside any caller's transaction; True if made.

    One read when it exists (so a read-only store is not written), a short write
    transaction with :func:`create_log` the first time.
    """
    with db.read() as conn:
        if conn.execute(_HEAD_EXISTS, {"office": office_id}).first() is not None:
            return False
    with db.transaction() as conn:
        return create_log(conn, office_id)
