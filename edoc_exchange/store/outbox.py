"""The outbox: queue a message, claim it for sending, record how sending went.

Claiming follows procrastinate: on PostgreSQL one statement picks the oldest due row with
``FOR UPDATE SKIP LOCKED`` and marks it ``sending`` for this worker; on SQLite (which has no
SKIP LOCKED) a compare-and-set ``UPDATE … WHERE state = 'queued'`` does, and the row count
says whether this worker won. Every later transition is guarded by the prior state and the
claiming worker, and fails loudly when no row matched. A row in ``sending`` names its
worker (``worker_id``); when that worker stopped or died (its heartbeat in ``workers`` is
stale), :func:`reclaim_stalled` puts the row back in the queue in one statement. A row
claimed without a worker row (``edoc send``) lives by its own heartbeat, as before.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    String,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..vntime import as_utc
from .blobs import BlobStore, StagedFile
from .db import StoreError
from .tables import (
    OutboxState,
    document_changes,
    outbox,
    outbox_following,
    recipient_statuses,
)
from .workers import dead_claim

__all__ = [
    "OutboxRow",
    "SentRef",
    "SentSummary",
    "claim_next",
    "count_sent",
    "document_ids",
    "due_for_following",
    "enqueue",
    "enqueue_file",
    "find_document",
    "find_sent_to",
    "finished_document_ids",
    "follow_again",
    "get",
    "heartbeat",
    "list_sent",
    "mark_failed",
    "mark_final_if_done",
    "mark_retry",
    "mark_sent",
    "message_source",
    "queue_depths",
    "recipient_codes",
    "recipients_of",
    "recipients_of_many",
    "reclaim_stalled",
    "replace_message",
    "requeue_failed",
    "sent_summary",
    "set_recipient_status",
    "stop_following",
]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One outgoing message as stored."""

    id: int
    office_id: str
    kind: str
    document_id: str
    status_code: str | None
    recipients: tuple[str, ...]
    message: bytes
    sha256: str
    signed: bool
    state: OutboxState
    attempts: int
    axis_doc_id: str | None
    last_error: str | None
    #: SHA-256 of the blob holding a large message (``message`` is then empty).
    message_blob: str | None = None
    message_size: int | None = None
    #: When every recipient reached a final status (the document is no longer followed).
    final_at: dt.datetime | None = None
    #: When the next poll of the axis about it is due (None: not polled).
    follow_next_at: dt.datetime | None = None
    #: When following stopped at the horizon (statuses that arrive are still recorded).
    follow_stopped_at: dt.datetime | None = None

    @property
    def following(self) -> str | None:
        """How the axis is followed about this sent document: ``finished`` (every recipient
        answered a final status), ``stopped`` (the horizon passed), ``following``; None
        for what is not a sent document."""
        if self.kind != "edoc" or self.state is not OutboxState.SENT:
            return None
        if self.final_at is not None:
            return "finished"
        if self.follow_stopped_at is not None:
            return "stopped"
        return "following"

    @classmethod
    def from_row(cls, row: Any) -> OutboxRow:
        return cls(
            id=int(row.id),
            office_id=row.office_id,
            kind=row.kind,
            document_id=row.document_id,
            status_code=row.status_code,
            recipients=tuple(json.loads(row.recipients)),
            message=bytes(row.message),
            sha256=row.sha256,
            signed=bool(row.signed),
            state=OutboxState(row.state),
            attempts=int(row.attempts),
            axis_doc_id=row.axis_doc_id,
            last_error=row.last_error,
            message_blob=row._mapping.get("message_blob"),
            message_size=row._mapping.get("message_size"),
            final_at=_utc_or_none(row.final_at),
            # Only where the query joined outbox_following (find_document).
            follow_next_at=_utc_or_none(row._mapping.get("follow_next_at")),
            follow_stopped_at=_utc_or_none(row._mapping.get("follow_stopped_at")),
        )


def _utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


def enqueue(
    conn: Connection,
    *,
    office_id: str,
    kind: str,
    document_id: str,
    message: bytes,
    recipients: Sequence[str],
    signed: bool,
    now: dt.datetime,
    status_code: str | None = None,
    subject: str | None = None,
) -> tuple[int, bool]:
    """Queue ``message``; return (row id, whether it is new).

    Queuing the same bytes twice for the same office returns the existing row: a retried
    command never sends a document twice.
    """
    digest = hashlib.sha256(message).hexdigest()
    return _enqueue_row(
        conn,
        office_id=office_id,
        kind=kind,
        document_id=document_id,
        status_code=status_code,
        subject=subject,
        recipients=json.dumps(list(recipients)),
        message=message,
        sha256=digest,
        message_size=len(message),
        signed=1 if signed else 0,
        now=now,
    )


def _enqueue_row(conn: Connection, *, now: dt.datetime, **values: Any) -> tuple[int, bool]:
    """Insert a queued outbox row; (its id, True), or (the id of the row already holding
    the same sha256, False). One statement when new (every reply the receiving step
    queues): the unique (office, sha256) makes a repeat insert nothing."""
    new_id = conn.execute(
        _enqueue_statement(conn.dialect.name),
        {
            **values,
            "state": OutboxState.QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True
    existing = conn.execute(
        select(outbox.c.id).where(
            outbox.c.office_id == values["office_id"], outbox.c.sha256 == values["sha256"]
        )
    ).scalar_one()
    return int(existing), False


@functools.cache
def _enqueue_statement(dialect: str) -> Any:
    """The outbox INSERT, built once per dialect (values bound as parameters)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        make(outbox)
        .on_conflict_do_nothing(index_elements=[outbox.c.office_id, outbox.c.sha256])
        .returning(outbox.c.id)
    )


def enqueue_file(
    conn: Connection,
    *,
    office_id: str,
    kind: str,
    document_id: str,
    staged: StagedFile,
    blobs: BlobStore,
    recipients: Sequence[str],
    now: dt.datetime,
    status_code: str | None = None,
    subject: str | None = None,
) -> tuple[int, bool]:
    """Queue a large, already signed message kept in a file; return (row id, whether new).

    The file is kept as a blob (written and fsynced before the row: a resend sends the very
    same bytes, streamed from the blob, see :func:`message_source`); the row keeps its
    hash and size. The same bytes queued twice return the existing row, as
    :func:`enqueue`. Raises StoreError when the file does not match ``staged``.
    """
    existing = conn.execute(
        select(outbox.c.id).where(outbox.c.office_id == office_id, outbox.c.sha256 == staged.sha256)
    ).scalar_one_or_none()
    if existing is not None:
        return int(existing), False
    blobs.put(staged, move=False)
    return _enqueue_row(
        conn,
        office_id=office_id,
        kind=kind,
        document_id=document_id,
        status_code=status_code,
        subject=subject,
        recipients=json.dumps(list(recipients)),
        message=b"",
        sha256=staged.sha256,
        message_blob=staged.sha256,
        message_size=staged.size,
        signed=1,
        now=now,
    )


def message_source(row: OutboxRow, blobs: BlobStore | None = None) -> bytes | Path:
    """What to hand ``AxisClient.send``: the bytes of the row, or the path of a large
    message's blob (streamed from disk). StoreError when a blob row has no ``blobs`` or
    its blob is missing or of another size."""
    if row.message_blob is None:
        return row.message
    if blobs is None:
        raise StoreError(
            f"Thư đi {row.id} được lưu ngoài cơ sở dữ liệu: cần thư mục lưu trữ",
            f"outbox row {row.id} is kept as a blob: a blob store is needed",
            step="outbox",
        )
    blobs.open(row.message_blob, row.message_size).close()
    return blobs.path(row.message_blob)


def claim_next(
    conn: Connection,
    *,
    worker: str,
    now: dt.datetime,
    office_id: str | None = None,
    row_id: int | None = None,
    worker_id: int | None = None,
) -> OutboxRow | None:
    """Claim the oldest due queued message for ``worker`` (only ``row_id``, when given);
    None when nothing is due. ``worker_id`` is the worker row whose heartbeat keeps the
    claim alive; without one, the row's own ``heartbeat_at`` must be beaten."""
    due = and_(outbox.c.state == OutboxState.QUEUED, outbox.c.next_attempt_at <= now)
    if office_id is not None:
        due = and_(due, outbox.c.office_id == office_id)
    if row_id is not None:
        due = and_(due, outbox.c.id == row_id)
    values = {
        "state": OutboxState.SENDING,
        "claimed_by": worker,
        "worker_id": worker_id,
        "heartbeat_at": now,
        "updated_at": now,
        "attempts": outbox.c.attempts + 1,
    }
    if conn.dialect.name == "postgresql":
        candidate = (
            select(outbox.c.id)
            .where(due)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        row = conn.execute(
            update(outbox).where(outbox.c.id == candidate).values(**values).returning(outbox)
        ).one_or_none()
        return OutboxRow.from_row(row) if row is not None else None
    for _ in range(5):
        candidate_id = conn.execute(
            select(outbox.c.id).where(due).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(1)
        ).scalar_one_or_none()
        if candidate_id is None:
            return None
        won = conn.execute(
            update(outbox)
            .where(outbox.c.id == candidate_id, outbox.c.state == OutboxState.QUEUED)
            .values(**values)
            .returning(outbox)
        ).one_or_none()
        if won is not None:
            return OutboxRow.from_row(won)
    return None


def get(conn: Connection, row_id: int) -> OutboxRow:
    """One outbox row by id; raises StoreError when there is none."""
    row = conn.execute(select(outbox).where(outbox.c.id == row_id)).one_or_none()
    if row is None:
        raise StoreError(f"Không có thư đi số {row_id}", f"no outbox row {row_id}", step="outbox")
    return OutboxRow.from_row(row)


def _guarded(conn: Connection, row_id: int, worker: str, values: dict[str, Any]) -> None:
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.id == row_id,
            outbox.c.state == OutboxState.SENDING,
            outbox.c.claimed_by == worker,
        )
        .values(**values)
    )
    if result.rowcount != 1:
        raise StoreError(
            f"Thư đi {row_id} không còn do tiến trình {worker} giữ (đã bị tiến trình khác lấy lại)",
            f"outbox row {row_id} is no longer held by {worker} (another worker reclaimed it)",
            step="outbox",
        )


def heartbeat(conn: Connection, row_id: int, worker: str, now: dt.datetime) -> None:
    """Tell other workers this row is still being worked on."""
    _guarded(conn, row_id, worker, {"heartbeat_at": now})


def replace_message(
    conn: Connection, row_id: int, worker: str, message: bytes, now: dt.datetime
) -> None:
    """Store the signed bytes before sending them, so a resend sends the very same bytes."""
    _guarded(
        conn,
        row_id,
        worker,
        {
            "message": message,
            "sha256": hashlib.sha256(message).hexdigest(),
            "signed": 1,
            "updated_at": now,
        },
    )


def mark_sent(
    conn: Connection,
    row_id: int,
    worker: str,
    axis_doc_id: str,
    now: dt.datetime,
    *,
    follow_after: dt.timedelta | None = None,
) -> None:
    """The axis accepted the message and gave it ``axis_doc_id``. With ``follow_after`` (a
    document), it is followed from now on: its first poll of the axis is due that long
    from now (see ``outbox_following``)."""
    _guarded(
        conn,
        row_id,
        worker,
        {
            "state": OutboxState.SENT,
            "axis_doc_id": axis_doc_id,
            "last_error": None,
            "claimed_by": None,
            "worker_id": None,
            "updated_at": now,
        },
    )
    if follow_after is None:
        return
    conn.execute(
        insert(outbox_following).from_select(
            [
                "outbox_id",
                "office_id",
                "document_id",
                "axis_doc_id",
                "recipients",
                "sent_at",
                "next_at",
                "interval_s",
            ],
            select(
                outbox.c.id,
                outbox.c.office_id,
                outbox.c.document_id,
                literal(axis_doc_id, String()),
                outbox.c.recipients,
                literal(now, DateTime(timezone=True)),
                literal(now + follow_after, DateTime(timezone=True)),
                literal(int(follow_after.total_seconds()), Integer()),
            ).where(outbox.c.id == row_id),
        )
    )


def mark_retry(
    conn: Connection, row_id: int, worker: str, error: str, next_at: dt.datetime, now: dt.datetime
) -> None:
    """A transient failure: back to the queue until ``next_at``."""
    _guarded(
        conn,
        row_id,
        worker,
        {
            "state": OutboxState.QUEUED,
            "last_error": error,
            "next_attempt_at": next_at,
            "claimed_by": None,
            "worker_id": None,
            "updated_at": now,
        },
    )


def mark_failed(conn: Connection, row_id: int, worker: str, error: str, now: dt.datetime) -> None:
    """The axis refused the message: a person must act; it is not retried."""
    _guarded(
        conn,
        row_id,
        worker,
        {
            "state": OutboxState.FAILED,
            "last_error": error,
            "claimed_by": None,
            "worker_id": None,
            "updated_at": now,
        },
    )


def reclaim_stalled(conn: Connection, *, stale_before: dt.datetime, now: dt.datetime) -> int:
    """Put back in the queue every ``sending`` row whose holder is gone: its worker stopped
    or has not beaten since ``stale_before`` (see :func:`.workers.dead_claim`). One
    statement; returns how many rows went back."""
    result = conn.execute(
        update(outbox)
        .where(outbox.c.state == OutboxState.SENDING, dead_claim(outbox, stale_before))
        .values(
            state=OutboxState.QUEUED,
            claimed_by=None,
            worker_id=None,
            next_attempt_at=now,
            updated_at=now,
        )
    )
    return int(result.rowcount)


def queue_depths(conn: Connection, office_id: str | None = None) -> dict[str, int]:
    """How many outgoing messages are in each state (for metrics and the clerk)."""
    query = select(outbox.c.state, func.count()).group_by(outbox.c.state)
    if office_id is not None:
        query = query.where(outbox.c.office_id == office_id)
    depths = {state.value: 0 for state in OutboxState}
    for state, count in conn.execute(query):
        depths[str(state)] = int(count)
    return depths


@dataclass(frozen=True, slots=True)
class SentRef:
    """What following a sent document needs, from ``outbox_following`` (never the outbox
    row: not its message, nor a column stored after it)."""

    id: int
    document_id: str
    axis_doc_id: str
    recipients: tuple[str, ...]
    #: When the axis took it (its last update, for a row sent before revision 0006).
    sent_at: dt.datetime
    #: The current wait between two polls of the axis, in seconds.
    follow_interval: int
    final: bool
    follow_stopped: bool


_F = outbox_following.c
_SENT_REF = (
    _F.outbox_id,
    _F.document_id,
    _F.axis_doc_id,
    _F.recipients,
    _F.sent_at,
    _F.interval_s,
    _F.finished_at,
    _F.stopped_at,
)


def _sent_ref(row: Any) -> SentRef:
    return SentRef(
        id=int(row.outbox_id),
        document_id=row.document_id,
        axis_doc_id=row.axis_doc_id,
        recipients=tuple(json.loads(row.recipients)),
        sent_at=as_utc(row.sent_at),
        follow_interval=int(row.interval_s),
        final=row.finished_at is not None,
        follow_stopped=row.stopped_at is not None,
    )


def find_sent_to(
    conn: Connection, *, office_id: str, document_id: str, recipient: str
) -> list[SentRef]:
    """This office's sent documents with that DocumentId addressed to ``recipient``: the
    documents an incoming status from ``recipient`` answers (by index, without reading
    any outbox row)."""
    rows = conn.execute(
        select(*_SENT_REF)
        .where(_F.office_id == office_id, _F.document_id == document_id)
        .order_by(_F.outbox_id)
    )
    found = [_sent_ref(row) for row in rows]
    return [row for row in found if recipient in row.recipients]


def due_for_following(
    conn: Connection, *, office_id: str, now: dt.datetime, limit: int
) -> list[SentRef]:
    """At most ``limit`` sent documents whose next poll of the axis is due, the longest
    due first: a range scan of ``ix_outbox_following_due``, so a pass costs what is due,
    not what was ever sent."""
    rows = conn.execute(
        select(*_SENT_REF)
        .where(_F.office_id == office_id, _F.next_at <= now)
        .order_by(_F.next_at, _F.outbox_id)
        .limit(limit)
    )
    return [_sent_ref(row) for row in rows]


def follow_again(
    conn: Connection, outbox_id: int, *, at: dt.datetime, interval: dt.timedelta
) -> None:
    """Poll this sent document again at ``at``; ``interval`` is the wait it stands at.
    A document no longer followed (finished, or stopped at the horizon) stays so."""
    conn.execute(
        update(outbox_following)
        .where(_F.outbox_id == outbox_id, _F.finished_at.is_(None), _F.stopped_at.is_(None))
        .values(next_at=at, interval_s=int(interval.total_seconds()))
    )


def stop_following(conn: Connection, outbox_id: int, now: dt.datetime) -> bool:
    """Stop polling the axis about this document (its horizon passed); True when it was
    still followed. Statuses that arrive are recorded all the same."""
    result = conn.execute(
        update(outbox_following)
        .where(_F.outbox_id == outbox_id, _F.stopped_at.is_(None), _F.finished_at.is_(None))
        .values(stopped_at=now, next_at=None)
    )
    return bool(result.rowcount)


def recipient_codes(conn: Connection, outbox_id: int) -> dict[str, str | None]:
    """Each recipient's latest status code for a sent document (by primary key)."""
    return {
        str(organ): code
        for organ, code in conn.execute(
            select(recipient_statuses.c.organ_id, recipient_statuses.c.status_code).where(
                recipient_statuses.c.outbox_id == outbox_id
            )
        ).all()
    }


def _status_rank(code: str | None) -> int:
    """Where a status code stands in the recipient's workflow: 01, then 02 (refused) or 03
    (accepted), then 04, 05, 06; each step follows only earlier ones, so the number orders
    them."""
    return int(code) if code is not None and code.isdigit() else -1


def set_recipient_status(
    conn: Connection,
    outbox_id: int,
    organ_id: str,
    now: dt.datetime,
    *,
    send_status: str | None = None,
    receive_status: str | None = None,
    status_code: str | None = None,
) -> bool:
    """Record a recipient's status; return True when something changed."""
    current = conn.execute(
        select(recipient_statuses).where(
            recipient_statuses.c.outbox_id == outbox_id, recipient_statuses.c.organ_id == organ_id
        )
    ).one_or_none()
    values = {
        k: v
        for k, v in {
            "send_status": send_status,
            "receive_status": receive_status,
            "status_code": status_code,
        }.items()
        if v is not None
    }
    if (
        current is not None
        and status_code is not None
        and _status_rank(status_code) < _status_rank(current.status_code)
    ):
        # Statuses can arrive out of order (a resend after a crash, the axis's own order):
        # the recipient's workflow only moves forward, so an older code never replaces a
        # later one. The status history keeps every message anyway.
        del values["status_code"]
    if current is None:
        conn.execute(
            insert(recipient_statuses).values(
                outbox_id=outbox_id, organ_id=organ_id, updated_at=now, **values
            )
        )
        return True
    if all(getattr(current, k) == v for k, v in values.items()):
        return False
    conn.execute(
        update(recipient_statuses)
        .where(
            recipient_statuses.c.outbox_id == outbox_id, recipient_statuses.c.organ_id == organ_id
        )
        .values(updated_at=now, **values)
    )
    return True


def mark_final_if_done(
    conn: Connection, row: OutboxRow | SentRef, final_codes: frozenset[str], now: dt.datetime
) -> bool:
    """Stop following a sent document once every recipient reached a final status."""
    codes = recipient_codes(conn, row.id)
    if not all(codes.get(organ) in final_codes for organ in row.recipients):
        return False
    finished = conn.execute(
        update(outbox_following)
        .where(_F.outbox_id == row.id, _F.finished_at.is_(None))
        .values(finished_at=now, next_at=None)
    )
    if finished.rowcount or isinstance(row, OutboxRow):
        # Once per document (on SQLite this rewrites the row with its message): the
        # reports and older readers look at outbox.final_at.
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id, outbox.c.final_at.is_(None))
            .values(final_at=now)
        )
    return True


def find_document(conn: Connection, office_id: str, document_id: str) -> OutboxRow | None:
    """This office's outgoing document with that DocumentId (the latest queued), or None;
    with how it is followed at the axis. A revoke or update re-uses the DocumentId of the
    document it changes: such a message (``document_changes.by_outbox_id``) is not the
    document, which stays the one shown."""
    row = conn.execute(
        select(
            outbox,
            _F.next_at.label("follow_next_at"),
            _F.stopped_at.label("follow_stopped_at"),
        )
        .outerjoin(outbox_following, _F.outbox_id == outbox.c.id)
        .where(
            outbox.c.office_id == office_id,
            outbox.c.document_id == document_id,
            outbox.c.kind == "edoc",
            ~exists().where(
                document_changes.c.by_outbox_id == outbox.c.id,
                document_changes.c.direction == "out",
                document_changes.c.document_id == document_id,
            ),
        )
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).one_or_none()
    return OutboxRow.from_row(row) if row is not None else None


def recipients_of(conn: Connection, outbox_id: int) -> list[dict[str, Any]]:
    """Each recipient's row of a sent document: organ_id, status_code, send/receive status."""
    rows = conn.execute(
        select(recipient_statuses)
        .where(recipient_statuses.c.outbox_id == outbox_id)
        .order_by(recipient_statuses.c.organ_id)
    )
    return [dict(row._mapping) for row in rows]


def document_ids(conn: Connection, office_id: str, kind: str = "edoc") -> list[str]:
    """Every DocumentId this office queued of ``kind`` (numbering reads them)."""
    return [
        str(value)
        for value in conn.execute(
            select(outbox.c.document_id).where(
                outbox.c.office_id == office_id, outbox.c.kind == kind
            )
        ).scalars()
    ]


def finished_document_ids(conn: Connection, office_id: str) -> set[str]:
    """DocumentIds of sent documents every recipient has finished with (for the reports)."""
    return {
        str(value)
        for value in conn.execute(
            select(outbox.c.document_id).where(
                outbox.c.office_id == office_id,
                outbox.c.kind == "edoc",
                outbox.c.final_at.is_not(None),
            )
        ).scalars()
    }


@dataclass(frozen=True, slots=True)
class SentSummary:
    """An outgoing document as the sent list shows it: never its message bytes."""

    id: int
    document_id: str
    subject: str | None
    recipients: tuple[str, ...]
    state: OutboxState
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    axis_doc_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    #: When the current sending attempt was last known alive (a ``sending`` row).
    heartbeat_at: dt.datetime | None
    #: From ``outbox_following`` once the axis took it (None before).
    sent_at: dt.datetime | None
    follow_next_at: dt.datetime | None
    finished_at: dt.datetime | None
    follow_stopped_at: dt.datetime | None


_SUMMARY = (
    outbox.c.id,
    outbox.c.document_id,
    outbox.c.subject,
    outbox.c.recipients,
    outbox.c.state,
    outbox.c.attempts,
    outbox.c.next_attempt_at,
    outbox.c.last_error,
    outbox.c.axis_doc_id,
    outbox.c.created_at,
    outbox.c.updated_at,
    outbox.c.heartbeat_at,
    _F.sent_at,
    _F.next_at.label("follow_next_at"),
    _F.finished_at,
    _F.stopped_at.label("follow_stopped_at"),
)


def _summary(row: Any) -> SentSummary:
    return SentSummary(
        id=int(row.id),
        document_id=row.document_id,
        subject=row.subject,
        recipients=tuple(json.loads(row.recipients)),
        state=OutboxState(row.state),
        attempts=int(row.attempts),
        next_attempt_at=as_utc(row.next_attempt_at),
        last_error=row.last_error,
        axis_doc_id=row.axis_doc_id,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        heartbeat_at=_utc_or_none(row.heartbeat_at),
        sent_at=_utc_or_none(row.sent_at),
        follow_next_at=_utc_or_none(row.follow_next_at),
        finished_at=_utc_or_none(row.finished_at),
        follow_stopped_at=_utc_or_none(row.follow_stopped_at),
    )


def _summaries(office_id: str) -> Any:
    return (
        select(*_SUMMARY)
        .outerjoin(outbox_following, _F.outbox_id == outbox.c.id)
        .where(outbox.c.office_id == office_id, outbox.c.kind == "edoc")
    )


def list_sent(
    conn: Connection,
    office_id: str,
    *,
    states: Sequence[OutboxState] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[SentSummary]:
    """The office's outgoing documents (not status messages), the latest queued first;
    the columns before the message only, so a page of them reads no document's bytes."""
    query = _summaries(office_id)
    if states:
        query = query.where(outbox.c.state.in_(list(states)))
    rows = conn.execute(query.order_by(outbox.c.id.desc()).limit(limit).offset(offset))
    return [_summary(row) for row in rows]


def count_sent(
    conn: Connection, office_id: str, *, states: Sequence[OutboxState] | None = None
) -> int:
    """How many outgoing documents :func:`list_sent` pages through."""
    query = select(func.count()).select_from(outbox).where(
        outbox.c.office_id == office_id, outbox.c.kind == "edoc"
    )
    if states:
        query = query.where(outbox.c.state.in_(list(states)))
    return int(conn.execute(query).scalar_one())


def sent_summary(conn: Connection, office_id: str, outbox_id: int) -> SentSummary | None:
    """One outgoing document of ``office_id`` as :func:`list_sent` shows it, or None."""
    row = conn.execute(_summaries(office_id).where(outbox.c.id == outbox_id)).one_or_none()
    return _summary(row) if row is not None else None


def recipients_of_many(
    conn: Connection, outbox_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """:func:`recipients_of` for a page of documents, in one query."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in outbox_ids}
    if not outbox_ids:
        return found
    rows = conn.execute(
        select(recipient_statuses)
        .where(recipient_statuses.c.outbox_id.in_(list(outbox_ids)))
        .order_by(recipient_statuses.c.outbox_id, recipient_statuses.c.organ_id)
    )
    for row in rows:
        found[int(row.outbox_id)].append(dict(row._mapping))
    return found


def requeue_failed(conn: Connection, outbox_id: int, *, office_id: str, now: dt.datetime) -> bool:
    """Put a ``failed`` document back in the queue, due now, its attempts counted afresh
    (a person corrected what the axis refused, or wants it tried again); False when it is
    not failed (any more): the same bytes are sent, so the axis de-duplicates them."""
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.id == outbox_id,
            outbox.c.office_id == office_id,
            outbox.c.state == OutboxState.FAILED,
        )
        .values(
            state=OutboxState.QUEUED,
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            worker_id=None,
            updated_at=now,
        )
    )
    return bool(result.rowcount == 1)
