"""The inbox: claim an incoming item, store it (verified or rejected), move it through the
clerk's states, and keep the status history of both directions.

The axis delivers at least once, so an item is identified twice: by the axis DocId and by
the edXML DocumentId (with its business type: an update re-uses the DocumentId). Both are
unique keys; storing an item that is already there is a no-op that says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .db import StoreError
from .tables import InboxVerdict, inbox, inbox_claims, status_history

__all__ = [
    "InboxRow",
    "claim_holder",
    "claim_incoming",
    "find_incoming",
    "received_between",
    "record_status",
    "release_claim",
    "set_clerk_state",
    "status_history_of",
    "store_incoming",
    "unacknowledged",
    "unacknowledged_statuses",
    "waiting_count",
]

#: The clerk's states of a received document and which states each may follow.
CLERK_TRANSITIONS: dict[str, frozenset[str]] = {
    "02": frozenset({"01"}),  # từ chối: only before acceptance
    "03": frozenset({"01"}),  # tiếp nhận
    "04": frozenset({"03", "04"}),  # phân công (re-assigning is allowed)
    "05": frozenset({"03", "04", "05"}),  # đang xử lý
    "06": frozenset({"03", "04", "05"}),  # hoàn thành
}


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One received message as stored."""

    id: int
    office_id: str
    axis_doc_id: str
    document_id: str
    business_doc_type: int
    sender: str
    subject: str | None
    due_date: str | None
    message: bytes
    verdict: InboxVerdict
    reason: str | None
    clerk_state: str
    received_at: dt.datetime
    accepted_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> InboxRow:
        return cls(
            id=int(row.id),
            office_id=row.office_id,
            axis_doc_id=row.axis_doc_id,
            document_id=row.document_id,
            business_doc_type=int(row.business_doc_type),
            sender=row.sender,
            subject=row.subject,
            due_date=row.due_date,
            message=bytes(row.message),
            verdict=InboxVerdict(row.verdict),
            reason=row.reason,
            clerk_state=row.clerk_state,
            received_at=row.received_at,
            accepted_at=row.accepted_at,
        )


def claim_incoming(
    conn: Connection,
    *,
    office_id: str,
    axis_doc_id: str,
    worker: str,
    now: dt.datetime,
    stale_before: dt.datetime,
) -> bool:
    """Claim an incoming item for ``worker``; False when another live worker holds it.

    A claim whose heartbeat is older than ``stale_before`` belonged to a worker that died
    and is taken over.
    """
    try:
        with conn.begin_nested():
            conn.execute(
                insert(inbox_claims).values(
                    office_id=office_id,
                    axis_doc_id=axis_doc_id,
                    claimed_by=worker,
                    heartbeat_at=now,
                )
            )
        return True
    except IntegrityError:
        pass
    taken = conn.execute(
        update(inbox_claims)
        .where(
            inbox_claims.c.office_id == office_id,
            inbox_claims.c.axis_doc_id == axis_doc_id,
            or_(inbox_claims.c.claimed_by == worker, inbox_claims.c.heartbeat_at < stale_before),
        )
        .values(claimed_by=worker, heartbeat_at=now)
    )
    return taken.rowcount == 1


def claim_holder(
    conn: Connection, *, office_id: str, axis_doc_id: str
) -> tuple[str, dt.datetime] | None:
    """Who holds the claim on an item, and their last heartbeat; None when unclaimed."""
    row = conn.execute(
        select(inbox_claims.c.claimed_by, inbox_claims.c.heartbeat_at).where(
            inbox_claims.c.office_id == office_id, inbox_claims.c.axis_doc_id == axis_doc_id
        )
    ).one_or_none()
    return (str(row.claimed_by), row.heartbeat_at) if row is not None else None


def release_claim(conn: Connection, *, office_id: str, axis_doc_id: str) -> bool:
    """Forget the claim (the item is stored and acknowledged, or given up for now).

    Returns whether there was a claim: of several workers finishing the same item, only
    the one that removes the claim records the acknowledgement.
    """
    result = conn.execute(
        delete(inbox_claims).where(
            inbox_claims.c.office_id == office_id, inbox_claims.c.axis_doc_id == axis_doc_id
        )
    )
    return result.rowcount == 1


def unacknowledged(
    conn: Connection, office_id: str, *, stale_before: dt.datetime
) -> list[InboxRow]:
    """Stored items still claimed by a worker that stopped before recording the acknowledgement.

    A worker keeps its claim from before the fetch until the acknowledgement is recorded;
    a stored item with a stale claim was perhaps acknowledged at the axis (and so is no
    longer listed there) by a worker that died before its audit event committed.
    """
    rows = conn.execute(
        select(inbox)
        .join(
            inbox_claims,
            (inbox_claims.c.office_id == inbox.c.office_id)
            & (inbox_claims.c.axis_doc_id == inbox.c.axis_doc_id),
        )
        .where(inbox.c.office_id == office_id, inbox_claims.c.heartbeat_at < stale_before)
        .order_by(inbox.c.id)
    )
    return [InboxRow.from_row(row) for row in rows]


def unacknowledged_statuses(
    conn: Connection, office_id: str, *, stale_before: dt.datetime
) -> list[tuple[str, str]]:
    """(axis DocId, DocumentId) of recorded incoming statuses whose acknowledgement a dead
    worker did not record (as :func:`unacknowledged`, for status messages)."""
    rows = conn.execute(
        select(status_history.c.axis_doc_id, status_history.c.document_id)
        .join(
            inbox_claims,
            (inbox_claims.c.office_id == status_history.c.office_id)
            & (inbox_claims.c.axis_doc_id == status_history.c.axis_doc_id),
        )
        .where(
            status_history.c.office_id == office_id,
            status_history.c.direction == "in",
            inbox_claims.c.heartbeat_at < stale_before,
        )
        .order_by(status_history.c.id)
    )
    return [(str(r.axis_doc_id), str(r.document_id)) for r in rows]


def find_incoming(
    conn: Connection,
    office_id: str,
    *,
    axis_doc_id: str | None = None,
    document_id: str | None = None,
    business_doc_type: int | None = None,
) -> InboxRow | None:
    """The stored item with this axis DocId, or this DocumentId (latest business type)."""
    query = select(inbox).where(inbox.c.office_id == office_id)
    if axis_doc_id is not None:
        query = query.where(inbox.c.axis_doc_id == axis_doc_id)
    if document_id is not None:
        query = query.where(inbox.c.document_id == document_id)
    if business_doc_type is not None:
        query = query.where(inbox.c.business_doc_type == business_doc_type)
    row = conn.execute(query.order_by(inbox.c.id.desc()).limit(1)).one_or_none()
    return InboxRow.from_row(row) if row is not None else None


def store_incoming(
    conn: Connection,
    *,
    office_id: str,
    axis_doc_id: str,
    document_id: str,
    business_doc_type: int,
    sender: str,
    message: bytes,
    verdict: InboxVerdict,
    now: dt.datetime,
    subject: str | None = None,
    due_date: str | None = None,
    reason: str | None = None,
    signer_subject: str | None = None,
    signer_serial: str | None = None,
) -> tuple[InboxRow, bool]:
    """Store a received item; return (row, whether it is new).

    A duplicate (same axis DocId, or same DocumentId and business type) is not stored again;
    the existing row is returned so the caller can still acknowledge it at the axis.
    """
    for existing in (
        find_incoming(conn, office_id, axis_doc_id=axis_doc_id),
        find_incoming(
            conn, office_id, document_id=document_id, business_doc_type=business_doc_type
        ),
    ):
        if existing is not None:
            return existing, False
    state = "01" if verdict is InboxVerdict.VERIFIED else "02"
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(inbox)
                .values(
                    office_id=office_id,
                    axis_doc_id=axis_doc_id,
                    document_id=document_id,
                    business_doc_type=business_doc_type,
                    sender=sender,
                    subject=subject,
                    due_date=due_date,
                    message=message,
                    sha256=hashlib.sha256(message).hexdigest(),
                    verdict=verdict,
                    reason=reason,
                    signer_subject=signer_subject,
                    signer_serial=signer_serial,
                    clerk_state=state,
                    received_at=now,
                    state_changed_at=now,
                )
                .returning(inbox.c.id)
            ).scalar_one()
    except IntegrityError:
        # Another worker stored it between our look and our insert.
        again = find_incoming(conn, office_id, axis_doc_id=axis_doc_id) or find_incoming(
            conn, office_id, document_id=document_id, business_doc_type=business_doc_type
        )
        if again is None:
            raise
        return again, False
    row = conn.execute(select(inbox).where(inbox.c.id == new_id)).one()
    return InboxRow.from_row(row), True


def set_clerk_state(conn: Connection, row: InboxRow, new_state: str, now: dt.datetime) -> InboxRow:
    """Move a received document to ``new_state`` (03 accept, 04 assign, 05, 06, 02 reject).

    Raises StoreError (in Vietnamese and English) for a move the workflow does not allow,
    e.g. accepting a document that was rejected, or one whose signature failed.
    """
    allowed = CLERK_TRANSITIONS.get(new_state)
    if allowed is None:
        raise StoreError(
            f"Trạng thái {new_state} không hợp lệ; dùng 02, 03, 04, 05 hoặc 06",
            f"state {new_state} is not valid; use 02, 03, 04, 05 or 06",
            step="mark",
        )
    if row.verdict is not InboxVerdict.VERIFIED and new_state != "02":
        raise StoreError(
            "Văn bản này không qua kiểm tra chữ ký số nên không thể tiếp nhận",
            "this document failed signature verification and cannot be accepted",
            step="mark",
        )
    if row.clerk_state not in allowed:
        raise StoreError(
            f"Không thể chuyển văn bản từ trạng thái {row.clerk_state} sang {new_state}",
            f"cannot move the document from state {row.clerk_state} to {new_state}",
            step="mark",
        )
    values: dict[str, Any] = {"clerk_state": new_state, "state_changed_at": now}
    if new_state == "03" and row.accepted_at is None:
        values["accepted_at"] = now
    result = conn.execute(
        update(inbox)
        .where(inbox.c.id == row.id, inbox.c.clerk_state == row.clerk_state)
        .values(**values)
    )
    if result.rowcount != 1:
        raise StoreError(
            "Trạng thái văn bản vừa bị người khác thay đổi; xem lại rồi thử lại",
            "someone else changed the document's state just now; look again and retry",
            step="mark",
        )
    updated = conn.execute(select(inbox).where(inbox.c.id == row.id)).one()
    return InboxRow.from_row(updated)


def record_status(
    conn: Connection,
    *,
    office_id: str,
    direction: str,
    document_id: str,
    counterpart: str,
    status_code: str,
    now: dt.datetime,
    description: str | None = None,
    status_time: dt.datetime | None = None,
    axis_doc_id: str | None = None,
    message: bytes | None = None,
) -> bool:
    """Add a status to the history; False when this axis item was recorded already."""
    if axis_doc_id is not None:
        seen = conn.execute(
            select(status_history.c.id).where(
                status_history.c.office_id == office_id,
                status_history.c.direction == direction,
                status_history.c.axis_doc_id == axis_doc_id,
            )
        ).first()
        if seen is not None:
            return False
    conn.execute(
        insert(status_history).values(
            office_id=office_id,
            direction=direction,
            document_id=document_id,
            counterpart=counterpart,
            status_code=status_code,
            description=description,
            status_time=status_time,
            axis_doc_id=axis_doc_id,
            message=message,
            recorded_at=now,
        )
    )
    return True


def status_history_of(conn: Connection, office_id: str, document_id: str) -> list[dict[str, Any]]:
    """Both directions' statuses of a document, oldest first."""
    rows = conn.execute(
        select(status_history)
        .where(status_history.c.office_id == office_id, status_history.c.document_id == document_id)
        .order_by(status_history.c.recorded_at, status_history.c.id)
    )
    return [dict(row._mapping) for row in rows]


def received_between(
    conn: Connection, office_id: str, start: dt.datetime, end: dt.datetime
) -> list[InboxRow]:
    """Received messages stored in ``[start, end)``, oldest first (for the reports)."""
    rows = conn.execute(
        select(inbox)
        .where(
            inbox.c.office_id == office_id,
            inbox.c.received_at >= start,
            inbox.c.received_at < end,
        )
        .order_by(inbox.c.received_at, inbox.c.id)
    )
    return [InboxRow.from_row(row) for row in rows]


def waiting_count(conn: Connection, office_id: str) -> int:
    """Received documents the clerk has not accepted yet (state 01)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(inbox)
            .where(inbox.c.office_id == office_id, inbox.c.clerk_state == "01")
        ).scalar_one()
    )
