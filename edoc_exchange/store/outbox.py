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
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from .blobs import BlobStore, StagedFile
from .db import StoreError
from .tables import OutboxState, outbox, recipient_statuses
from .workers import dead_claim

__all__ = [
    "OutboxRow",
    "claim_next",
    "document_ids",
    "enqueue",
    "enqueue_file",
    "find_document",
    "find_sent",
    "find_sent_to",
    "finished_document_ids",
    "get",
    "heartbeat",
    "mark_failed",
    "mark_final_if_done",
    "mark_retry",
    "mark_sent",
    "message_source",
    "queue_depths",
    "recipients_of",
    "reclaim_stalled",
    "replace_message",
    "set_recipient_status",
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
        )


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
    existing = conn.execute(
        select(outbox.c.id).where(outbox.c.office_id == office_id, outbox.c.sha256 == digest)
    ).scalar_one_or_none()
    if existing is not None:
        return int(existing), False
    new_id = conn.execute(
        insert(outbox)
        .values(
            office_id=office_id,
            kind=kind,
            document_id=document_id,
            status_code=status_code,
            subject=subject,
            recipients=json.dumps(list(recipients)),
            message=message,
            sha256=digest,
            signed=1 if signed else 0,
            state=OutboxState.QUEUED,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        .returning(outbox.c.id)
    ).scalar_one()
    return int(new_id), True


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
    new_id = conn.execute(
        insert(outbox)
        .values(
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
            state=OutboxState.QUEUED,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        .returning(outbox.c.id)
    ).scalar_one()
    return int(new_id), True


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
        raise StoreError(
            f"Không có thư đi số {row_id}", f"no outbox row {row_id}", step="outbox"
        )
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
    conn: Connection, row_id: int, worker: str, axis_doc_id: str, now: dt.datetime
) -> None:
    """The axis accepted the message and gave it ``axis_doc_id``."""
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


def find_sent(
    conn: Connection, *, office_id: str | None = None, unfinished_only: bool = True
) -> list[OutboxRow]:
    """Sent documents, by default those whose recipients have not all reached a final state."""
    query = select(outbox).where(outbox.c.state == OutboxState.SENT, outbox.c.kind == "edoc")
    if office_id is not None:
        query = query.where(outbox.c.office_id == office_id)
    if unfinished_only:
        query = query.where(outbox.c.final_at.is_(None))
    return [OutboxRow.from_row(row) for row in conn.execute(query.order_by(outbox.c.id))]


def find_sent_to(
    conn: Connection, *, office_id: str, document_id: str, recipient: str
) -> list[OutboxRow]:
    """This office's sent documents with that DocumentId addressed to ``recipient``: the
    rows an incoming status from ``recipient`` answers (found by index, not by reading
    every sent row)."""
    rows = conn.execute(
        select(outbox)
        .where(
            outbox.c.office_id == office_id,
            outbox.c.document_id == document_id,
            outbox.c.kind == "edoc",
            outbox.c.state == OutboxState.SENT,
        )
        .order_by(outbox.c.id)
    )
    found = [OutboxRow.from_row(row) for row in rows]
    return [row for row in found if recipient in row.recipients]


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
    conn: Connection, row: OutboxRow, final_codes: frozenset[str], now: dt.datetime
) -> bool:
    """Stop following a sent document once every recipient reached a final status."""
    codes = dict(
        conn.execute(
            select(recipient_statuses.c.organ_id, recipient_statuses.c.status_code).where(
                recipient_statuses.c.outbox_id == row.id
            )
        ).all()
    )
    if not all(codes.get(organ) in final_codes for organ in row.recipients):
        return False
    conn.execute(update(outbox).where(outbox.c.id == row.id).values(final_at=now))
    return True


def find_document(conn: Connection, office_id: str, document_id: str) -> OutboxRow | None:
    """This office's outgoing document with that DocumentId (the latest queued), or None."""
    row = conn.execute(
        select(outbox)
        .where(
            outbox.c.office_id == office_id,
            outbox.c.document_id == document_id,
            outbox.c.kind == "edoc",
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
