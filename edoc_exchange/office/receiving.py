"""Receiving: every listed item is claimed, fetched, verified, stored with its reply queued,
and only then acknowledged at the axis; and the files a clerk gets from the store.

A crash at any moment neither loses nor duplicates an item: the claim lasts until the
acknowledgement is recorded, so that event too is written exactly once; an item that
shows up again is recognised and acknowledged again.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from typing import Any

from .. import audit, edxml, signing
from ..axis import (
    AckStatus,
    AxisError,
    MessageType,
    ReceivedItem,
)
from ..store import Database, InboxVerdict, StoreError, as_utc
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ._office import FINAL_STATUSES, Office, StepReport
from .replies import queue_status, row_sha

__all__ = ["receive_documents", "receive_statuses", "received_files"]

log = logging.getLogger("edoc.office")


def _read_for_rejection(data: bytes) -> edxml.Document | edxml.StatusMessage | None:
    """Best-effort header of a message that failed verification, to answer it with 02."""
    try:
        return edxml.read(data).message
    except edxml.EdxmlReadError as exc:
        return exc.partial.message if exc.partial is not None else None


def _ack(office: Office, item_id: str, status: AckStatus, document_id: str | None) -> None:
    office.client.acknowledge(item_id, status)
    with office.db.transaction() as conn:
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.ACKNOWLEDGED,
            {
                "axis_doc_id": item_id,
                "status": status.value,
                "document_id": document_id,
            },
        )


def _ack_claimed(office: Office, item_id: str, status: AckStatus, document_id: str) -> None:
    """Acknowledge a stored item (document or status) at the axis, then record it once.

    The event commits with the release of the item's claim, which the worker held since
    before the fetch. A crash after the axis took the acknowledgement but before this
    commit leaves the claim: the item is acknowledged again (the axis accepts a repeated
    acknowledgement) and recorded then; a second acknowledgement finds no claim and
    records nothing.
    """
    office.client.acknowledge(item_id, status)
    with office.db.transaction() as conn:
        if inbox_store.release_claim(conn, office_id=office.office_id, axis_doc_id=item_id):
            audit.append(
                conn,
                office.office_id,
                audit.AuditEvent.ACKNOWLEDGED,
                {"axis_doc_id": item_id, "status": status.value, "document_id": document_id},
            )


def _ack_status_of(row: inbox_store.InboxRow) -> AckStatus:
    return AckStatus.DONE if row.verdict is InboxVerdict.VERIFIED else AckStatus.FAIL


def _finish_acknowledgements(office: Office, report: StepReport, *, statuses: bool) -> None:
    """Acknowledge (again) what a worker that died stored but did not record as acknowledged."""
    now = office.clock()
    stale_before = now - office.stale_after
    with office.db.engine.connect() as conn:
        if statuses:
            pending = [
                (axis_doc_id, AckStatus.DONE, document_id)
                for axis_doc_id, document_id in inbox_store.unacknowledged_statuses(
                    conn, office.office_id, stale_before=stale_before
                )
            ]
        else:
            pending = [
                (row.axis_doc_id, _ack_status_of(row), row.document_id)
                for row in inbox_store.unacknowledged(
                    conn, office.office_id, stale_before=stale_before
                )
            ]
    for axis_doc_id, status, document_id in pending:
        try:
            _ack_claimed(office, axis_doc_id, status, document_id)
        except AxisError as exc:
            report.failed += 1
            log.warning("cannot acknowledge %s again: %s", axis_doc_id, exc.diagnostics())
        else:
            report.details.append(f"{axis_doc_id}: acknowledged after a restart")


def _claim(office: Office, item: ReceivedItem) -> tuple[bool, inbox_store.InboxRow | None]:
    """Claim a listed item: (True, None) to process it, (False, row) to acknowledge a
    stored one again, (False, None) to leave it (another live worker has it, or its
    acknowledgement is already recorded and the list we hold is older than that)."""
    now = office.clock()
    with office.db.transaction() as conn:
        existing = inbox_store.find_incoming(conn, office.office_id, axis_doc_id=item.doc_id)
        if existing is not None:
            holder = inbox_store.claim_holder(
                conn, office_id=office.office_id, axis_doc_id=item.doc_id
            )
            if holder is None:
                return False, None  # acknowledged and recorded: it will leave the list
            worker, beat = holder
            if worker != office.worker and as_utc(beat) >= now - office.stale_after:
                return False, None  # a live worker is acknowledging it right now
            return False, existing
        claimed = _claim_row(conn, office, item.doc_id, now)
    return claimed, None


def _claim_row(conn: Any, office: Office, item_id: str, now: dt.datetime) -> bool:
    """Claim an incoming item for this worker (taking over a stale claim)."""
    return inbox_store.claim_incoming(
        conn,
        office_id=office.office_id,
        axis_doc_id=item_id,
        worker=office.worker,
        now=now,
        stale_before=now - office.stale_after,
    )


def _release(office: Office, item_id: str) -> None:
    """Give up a claim after a failure, unless the item was stored: then the claim marks
    its acknowledgement as still to be recorded."""
    with office.db.transaction() as conn:
        if inbox_store.find_incoming(conn, office.office_id, axis_doc_id=item_id) is None:
            inbox_store.release_claim(conn, office_id=office.office_id, axis_doc_id=item_id)


def receive_documents(office: Office) -> StepReport:
    """One inbound pass: every listed document is stored once, answered and acknowledged."""
    report = StepReport()
    _finish_acknowledgements(office, report, statuses=False)
    items = office.client.list_received(MessageType.EDOC)
    office.metrics.polled()
    # Daemons sharing a database walk the list in different orders, so that they mostly
    # claim different items instead of queueing behind each other's claims.
    random.shuffle(items)
    for item in items:
        claimed, existing = _claim(office, item)
        if existing is not None:
            # Stored before (a crash before acknowledging, or another daemon): just ack;
            # recorded only if its claim is still there (see _ack_claimed).
            _ack_claimed(office, item.doc_id, _ack_status_of(existing), existing.document_id)
            report.duplicates += 1
            continue
        if not claimed:
            report.skipped += 1
            continue
        try:
            document_id, verdict, new = _receive_one(office, item)
        except BaseException:
            _release(office, item.doc_id)  # nothing was stored: another pass may try
            raise
        # Stored, reply queued: only now tell the axis (the claim is kept until recorded).
        ack = AckStatus.DONE if verdict is InboxVerdict.VERIFIED else AckStatus.FAIL
        _ack_claimed(office, item.doc_id, ack, document_id)
        outcome = verdict.value if new else "duplicate"
        if outcome == "rejected":
            report.rejected += 1
        else:
            report.done += 1
        report.details.append(f"{item.doc_id}: {outcome}")
    return report


def _receive_one(office: Office, item: ReceivedItem) -> tuple[str, InboxVerdict, bool]:
    """Fetch, verify and store one claimed item with its reply queued; do not acknowledge.

    Returns (DocumentId, verdict, whether it was new).
    """
    data = office.client.fetch(item.doc_id)
    now = office.clock()
    verified: signing.VerifiedMessage | None = None
    reason: str | None = None
    try:
        verified = signing.verify(data, office.trust())
        message: edxml.Document | edxml.StatusMessage | None = verified.message
    except (signing.SignatureError, edxml.EdxmlError) as exc:
        reason = exc.diagnostics()
        message = _read_for_rejection(data)
    doc = message if isinstance(message, edxml.Document) else None
    document_id = (doc.document_id if doc else None) or f"axis:{item.doc_id}"
    sender = message.sender.organ_id if message is not None else (item.sender or "unknown")
    verdict = (
        InboxVerdict.VERIFIED if verified is not None and doc is not None else InboxVerdict.REJECTED
    )
    if verified is not None and doc is None:
        reason = (
            "Thông điệp trạng thái nằm trong danh sách văn bản "
            "(a status message arrived in the document list)"
        )
    with office.db.transaction() as conn:
        _row, new = inbox_store.store_incoming(
            conn,
            office_id=office.office_id,
            axis_doc_id=item.doc_id,
            document_id=document_id,
            business_doc_type=(doc.business.doc_type or 0) if doc and doc.business else 0,
            sender=sender,
            subject=doc.subject if doc else None,
            due_date=doc.due_date.isoformat() if doc and doc.due_date else None,
            message=data,
            verdict=verdict,
            reason=reason,
            signer_subject=verified.certificate.subject.rfc4514_string() if verified else None,
            signer_serial=format(verified.certificate.serial_number, "x") if verified else None,
            now=now,
        )
        if new:
            audit.append(
                conn,
                office.office_id,
                audit.AuditEvent.RECEIVED,
                {
                    "axis_doc_id": item.doc_id,
                    "document_id": document_id,
                    "from": sender,
                    "sha256": row_sha(data),
                },
            )
            if verdict is InboxVerdict.VERIFIED:
                assert verified is not None
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.VERIFIED,
                    {
                        "document_id": document_id,
                        "signer": verified.certificate.subject.rfc4514_string(),
                        "serial": format(verified.certificate.serial_number, "x"),
                        "algorithm": verified.signature_algorithm,
                        # Hops systems appended after signing (the axis's): recorded as
                        # seen, and as what they are, unsigned.
                        "unsigned_hops": [
                            {
                                "organ_id": hop.organ_id,
                                "timestamp": hop.timestamp.isoformat() if hop.timestamp else None,
                            }
                            for hop in verified.unsigned_trace
                        ],
                    },
                )
            else:
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.REJECTED,
                    {
                        "document_id": document_id,
                        "from": sender,
                        "reason": reason,
                    },
                )
            if doc is not None:
                queue_status(
                    conn,
                    office,
                    doc,
                    "01" if verdict is InboxVerdict.VERIFIED else "02",
                    None if verdict is InboxVerdict.VERIFIED else _short(reason),
                )
    office.metrics.received(verdict.value)
    return document_id, verdict, new


def _short(reason: str | None) -> str | None:
    return reason[:300] if reason else None


def receive_statuses(office: Office) -> StepReport:
    """One pass over status messages answering what this office sent."""
    report = StepReport()
    _finish_acknowledgements(office, report, statuses=True)
    for item in office.client.list_received(MessageType.STATUS):
        data = office.client.fetch(item.doc_id)
        now = office.clock()
        try:
            verified = signing.verify(data, office.trust())
        except (signing.SignatureError, edxml.EdxmlError) as exc:
            with office.db.transaction() as conn:
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.REJECTED,
                    {
                        "axis_doc_id": item.doc_id,
                        "kind": "status",
                        "reason": exc.diagnostics(),
                    },
                )
            _ack(office, item.doc_id, AckStatus.FAIL, None)
            report.rejected += 1
            continue
        msg = verified.message
        if not isinstance(msg, edxml.StatusMessage):
            _ack(office, item.doc_id, AckStatus.FAIL, None)
            report.rejected += 1
            continue
        document_id = msg.response_for.document_id or ""
        with office.db.transaction() as conn:
            new = inbox_store.record_status(
                conn,
                office_id=office.office_id,
                direction="in",
                document_id=document_id,
                counterpart=msg.sender.organ_id,
                status_code=msg.status_code,
                description=msg.description,
                status_time=msg.timestamp,
                axis_doc_id=item.doc_id,
                message=data,
                now=now,
            )
            if new:
                # Held until the acknowledgement is recorded (see _ack_claimed).
                _claim_row(conn, office, item.doc_id, now)
                for row in outbox_store.find_sent(
                    conn, office_id=office.office_id, unfinished_only=False
                ):
                    if row.document_id == document_id and msg.sender.organ_id in row.recipients:
                        outbox_store.set_recipient_status(
                            conn, row.id, msg.sender.organ_id, now, status_code=msg.status_code
                        )
                        outbox_store.mark_final_if_done(conn, row, FINAL_STATUSES, now)
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.STATUS_RECEIVED,
                    {
                        "axis_doc_id": item.doc_id,
                        "document_id": document_id,
                        "from": msg.sender.organ_id,
                        "status_code": msg.status_code,
                    },
                )
        _ack_claimed(office, item.doc_id, AckStatus.DONE, document_id)
        report.done += 1 if new else 0
        report.duplicates += 0 if new else 1
    return report


def received_files(db: Database, office_id: str, document_id: str) -> list[edxml.AttachedFile]:
    """The files of a received, verified document, as a clerk gets them.

    The store keeps the message as it arrived (the signature covers those bytes); the files
    handed out are the attachments with the SDK's zip unpacked. A rejected message's files
    are not handed out: nothing vouches for them. Raises StoreError saying why not.
    """
    with db.engine.connect() as conn:
        row = inbox_store.find_incoming(conn, office_id, document_id=document_id)
    if row is None:
        raise StoreError(
            f"Không có văn bản đến {document_id}",
            f"no received document {document_id}",
            step="files",
        )
    if row.verdict is not InboxVerdict.VERIFIED:
        raise StoreError(
            f"Văn bản {document_id} đã bị từ chối ({row.reason or row.verdict.value}): "
            "không lấy tệp đính kèm của văn bản không được xác thực",
            f"document {document_id} was rejected ({row.reason or row.verdict.value}): the "
            "files of an unverified message are not handed out",
            step="files",
        )
    message = edxml.read(row.message).message
    if not isinstance(message, edxml.Document):
        return []
    return [att.file for att in message.attachments]
