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
from ..store import Database, InboxVerdict, StoreError
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ._inbound import Judgement, judge
from ._office import FINAL_STATUSES, Office, StepReport
from .clerk import received_document
from .replies import queue_status, row_sha
from .worker import keep_wal_small

__all__ = ["receive_documents", "receive_statuses", "received_files"]

log = logging.getLogger("edoc.office")


def _ack(office: Office, item_id: str, status: AckStatus, document_id: str | None) -> None:
    office.axis.acknowledge(item_id, status)
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
    office.axis.acknowledge(item_id, status)
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
    """Acknowledge (again) what a worker that died or stopped stored but did not record as
    acknowledged, and this worker's own leftovers (an acknowledgement whose answer was
    lost); one item at a time, ending early when the daemon is stopping."""
    now = office.clock()
    stale_before = now - office.stale_after
    with office.db.read() as conn:
        if statuses:
            pending = [
                (axis_doc_id, AckStatus.DONE, document_id)
                for axis_doc_id, document_id in inbox_store.unacknowledged_statuses(
                    conn, office.office_id, stale_before=stale_before, worker_id=office.worker_id
                )
            ]
        else:
            pending = [
                (row.axis_doc_id, _ack_status_of(row), row.document_id)
                for row in inbox_store.unacknowledged(
                    conn, office.office_id, stale_before=stale_before, worker_id=office.worker_id
                )
            ]
    for axis_doc_id, status, document_id in pending:
        if office.stopping:
            report.interrupted = True
            return
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
                conn,
                office_id=office.office_id,
                axis_doc_id=item.doc_id,
                stale_before=now - office.stale_after,
            )
            if holder is None:
                return False, None  # acknowledged and recorded: it will leave the list
            if holder.worker != office.worker and holder.live:
                return False, None  # a live worker is acknowledging it right now
            return False, existing
        claimed = _claim_row(conn, office, item.doc_id, now)
    return claimed, None


def _claim_row(conn: Any, office: Office, item_id: str, now: dt.datetime) -> bool:
    """Claim an incoming item for this worker (taking over one whose holder is gone)."""
    return inbox_store.claim_incoming(
        conn,
        office_id=office.office_id,
        axis_doc_id=item_id,
        worker=office.worker,
        worker_id=office.worker_id,
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
    """One inbound pass: every listed document is stored once, answered and acknowledged.

    Items are taken one by one; when the daemon is asked to stop, the pass ends after the
    item in hand (``report.interrupted``) and the rest stays listed at the axis.
    """
    report = StepReport()
    _finish_acknowledgements(office, report, statuses=False)
    if office.stopping:
        report.interrupted = True
        return report
    items = office.axis.list_received(MessageType.EDOC)
    office.metrics.polled()
    # Daemons sharing a database walk the list in different orders, so that they mostly
    # claim different items instead of queueing behind each other's claims.
    random.shuffle(items)
    for item in items:
        if office.stopping:
            report.interrupted = True
            break
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
        keep_wal_small(office)  # a large message leaves a large WAL behind
    return report


def _receive_one(office: Office, item: ReceivedItem) -> tuple[str, InboxVerdict, bool]:
    """Fetch, verify and store one claimed item with its reply queued; do not acknowledge.

    The inbox gets a verified record (made from the VerifiedMessage, under the sender's
    identity) or a rejection with the raw bytes as evidence; never bytes and a verdict.
    Returns (DocumentId, verdict, whether it was new).
    """
    data = office.axis.fetch(item.doc_id)
    now = office.clock()
    judged = judge(data, office.trust(), axis_doc_id=item.doc_id, listed_sender=item.sender)
    fields = judged.fields
    with office.db.transaction() as conn:
        if isinstance(judged.record, inbox_store.VerifiedRecord):
            row, new = inbox_store.store_incoming_verified(
                conn,
                judged.record,
                office_id=office.office_id,
                axis_doc_id=item.doc_id,
                state=edxml.StatusCode.ARRIVED,
                now=now,
            )
        else:
            row, new = inbox_store.store_incoming_rejected(
                conn,
                judged.record,
                office_id=office.office_id,
                axis_doc_id=item.doc_id,
                state=edxml.StatusCode.REJECTED,
                now=now,
            )
        if new:
            _record_arrival(conn, office, item, judged, data)
    if new and row.identity_finding:
        log.warning("%s: %s", item.doc_id, row.identity_finding)
    office.metrics.received(row.verdict.value)
    return fields.document_id, row.verdict, new


def _record_arrival(
    conn: Any, office: Office, item: ReceivedItem, judged: Judgement, data: bytes
) -> None:
    """The audit events of a new arrival, and its 01/02 reply, in the storing transaction."""
    fields = judged.fields
    audit.append(
        conn,
        office.office_id,
        audit.AuditEvent.RECEIVED,
        {
            "axis_doc_id": item.doc_id,
            "document_id": fields.document_id,
            "from": fields.sender,
            # Of the bytes as delivered (hops and all); the inbox keeps the signed message.
            "sha256": row_sha(data),
        },
    )
    verified, record = judged.verified, judged.record
    if verified is not None and isinstance(record, inbox_store.VerifiedRecord):
        event: dict[str, Any] = {
            "document_id": fields.document_id,
            "signer": verified.subject,
            "serial": verified.serial,
            "algorithm": verified.signature_algorithm,
            # Hops systems appended after signing (the axis's): recorded as seen, and as
            # what they are, unsigned.
            "unsigned_hops": [
                {
                    "organ_id": hop.organ_id,
                    "timestamp": hop.timestamp.isoformat() if hop.timestamp else None,
                }
                for hop in verified.unsigned_trace
            ],
        }
        if record.identity_finding:
            event["identity_finding"] = record.identity_finding
        audit.append(conn, office.office_id, audit.AuditEvent.VERIFIED, event)
        code = edxml.StatusCode.ARRIVED
        note = None
    else:
        assert isinstance(record, inbox_store.RejectedRecord)
        reason = record.reason
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.REJECTED,
            {"document_id": fields.document_id, "from": fields.sender, "reason": reason},
        )
        code, note = edxml.StatusCode.REJECTED, _short(reason)
    if judged.answering is not None:
        queue_status(conn, office, judged.answering, code, note)


def _short(reason: str | None) -> str | None:
    return reason[:300] if reason else None


def receive_statuses(office: Office) -> StepReport:
    """One pass over status messages answering what this office sent.

    Each one is kept (history, with its bytes) and acknowledged; one that answers no
    document this office sent to its sender, or whose code is malformed, changes nothing
    else and says why in its audit event (``problem``).
    """
    from .sending import status_problem, unmatched_status  # following lives there

    report = StepReport()
    _finish_acknowledgements(office, report, statuses=True)
    if office.stopping:
        report.interrupted = True
        return report
    for item in office.axis.list_received(MessageType.STATUS):
        if office.stopping:  # one item at a time: a stop waits for one, not the list
            report.interrupted = True
            break
        data = office.axis.fetch(item.doc_id)
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
        # A code that is not two digits is kept (history, with the message) and said to be
        # wrong; it moves nobody's status. Four characters fit the history's column.
        code = msg.status_code if len(msg.status_code) <= 4 else msg.status_code[:3] + "…"
        with office.db.transaction() as conn:
            new = inbox_store.record_status(
                conn,
                office_id=office.office_id,
                direction="in",
                document_id=document_id,
                counterpart=msg.sender.organ_id,
                status_code=code,
                description=msg.description,
                status_time=msg.timestamp,
                axis_doc_id=item.doc_id,
                message=data,
                now=now,
            )
            if new:
                # Held until the acknowledgement is recorded (see _ack_claimed).
                _claim_row(conn, office, item.doc_id, now)
                event: dict[str, Any] = {
                    "axis_doc_id": item.doc_id,
                    "document_id": document_id,
                    "from": msg.sender.organ_id,
                    "status_code": msg.status_code,
                }
                problem = status_problem(msg)
                if problem is None and not _match_sent(conn, office, msg, now):
                    problem = unmatched_status(msg, document_id)
                if problem is not None:
                    event["problem"] = problem
                audit.append(conn, office.office_id, audit.AuditEvent.STATUS_RECEIVED, event)
        _ack_claimed(office, item.doc_id, AckStatus.DONE, document_id)
        report.done += 1 if new else 0
        report.duplicates += 0 if new else 1
    return report


def _match_sent(conn: Any, office: Office, msg: edxml.StatusMessage, now: dt.datetime) -> int:
    """Apply a status to the documents it answers: this office's own DocumentId, and the
    recipient that answers among their recipients. Another office's status about a
    document it never received (or about a DocumentId that is not ours) changes nothing;
    the history keeps it all the same. Returns how many sent documents it updated."""
    from .sending import followed_by_push  # following lives there

    document_id = msg.response_for.document_id or ""
    answered_issuer = msg.response_for.organ_id
    if answered_issuer is not None and answered_issuer != office.office_id:
        log.warning(
            "status from %s answers %s of %s, not a document of this office",
            msg.sender.organ_id,
            document_id,
            answered_issuer,
        )
        return 0
    matched = 0
    # By index (office, DocumentId), reading ids and recipients only: a status never reads
    # every sent row, nor any message's bytes.
    for row in outbox_store.find_sent_to(
        conn, office_id=office.office_id, document_id=document_id, recipient=msg.sender.organ_id
    ):
        matched += 1
        current = outbox_store.recipient_codes(conn, row.id).get(msg.sender.organ_id)
        if current in FINAL_STATUSES or edxml.StatusCode.known(msg.status_code) is None:
            continue  # that recipient is done with it; a code out of the standard moves nothing
        outbox_store.set_recipient_status(
            conn, row.id, msg.sender.organ_id, now, status_code=msg.status_code
        )
        if not outbox_store.mark_final_if_done(conn, row, FINAL_STATUSES, now):
            followed_by_push(conn, office, row, now)
    if not matched:
        log.warning(
            "status %s from %s matches no document this office sent to it (%s)",
            msg.status_code,
            msg.sender.organ_id,
            document_id,
        )
    return matched


def received_files(
    db: Database, office_id: str, document_id: str, *, sender: str | None = None
) -> list[edxml.AttachedFile]:
    """The files of a received, verified document, as a clerk gets them.

    They are read from the verified projection: the signed message the inbox kept (what
    the signature covers, nothing an axis appended), with the SDK's zip unpacked. A
    rejected item's files are not handed out: nothing vouches for them. ``sender`` picks
    one sender's document when several used this DocumentId. Raises StoreError saying why
    not.
    """
    with db.engine.connect() as conn:
        row = received_document(conn, office_id, document_id, sender=sender, step="files")
        if row.verdict is not InboxVerdict.VERIFIED:
            raise StoreError(
                f"Văn bản {document_id} đã bị từ chối ({row.reason or row.verdict.value}): "
                "không lấy tệp đính kèm của văn bản không được xác thực",
                f"document {document_id} was rejected ({row.reason or row.verdict.value}): the "
                "files of an unverified message are not handed out",
                step="files",
            )
        verified = inbox_store.verified_document(conn, row)
    message = edxml.read(verified.content).message
    if not isinstance(message, edxml.Document):
        return []
    return [att.file for att in message.attachments]
