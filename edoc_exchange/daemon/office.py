"""What one office's daemon does, step by step: receive, answer, send, follow, record.

Each step is a plain function of an :class:`Office` (the wired parts: database, axis
client, signer, trust policy, clock). The loops in :mod:`.runner` call them on intervals;
the CLI calls :func:`mark` for the clerk; tests call them directly.

The rules that keep things whole:

- a state change and its audit event commit in one transaction;
- an incoming item is claimed before it is fetched, stored (with its reply queued) before
  it is acknowledged at the axis, and acknowledged again if it shows up once more; so a
  crash at any moment neither loses nor duplicates it; the claim lasts until the
  acknowledgement is recorded, so that event too is written exactly once;
- an outgoing message is signed and the signed bytes stored before the first send, so that
  every resend is byte-identical and the axis de-duplicates it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .. import audit, edxml, signing
from ..axis import (
    AckStatus,
    AxisAuthError,
    AxisClient,
    AxisError,
    AxisRejected,
    AxisTransientError,
    MessageType,
    Progress,
    ReceivedItem,
)
from ..config import ConfigError
from ..store import Database, InboxVerdict, StoreError, as_utc
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from .metrics import Metrics

__all__ = [
    "Dispatch",
    "Office",
    "OfficeIdentity",
    "StepReport",
    "follow_sent",
    "mark",
    "receive_documents",
    "receive_statuses",
    "received_files",
    "send_due",
    "send_now",
]

log = logging.getLogger("edoc.daemon")

#: The status each clerk action sends, and how the Vietnamese description starts.
STATUS_TEXT = {
    "01": "Đã đến - phần mềm quản lý văn bản đã nhận, văn thư chưa xử lý",
    "02": "Từ chối tiếp nhận",
    "03": "Tiếp nhận - đã vào sổ văn bản đến",
    "04": "Phân công xử lý",
    "05": "Đang xử lý",
    "06": "Hoàn thành",
}
#: Recipient statuses after which a sent document is no longer followed.
FINAL_STATUSES = frozenset({"02", "06"})


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class OfficeIdentity:
    """Who this office is, as it writes itself in the From of its messages."""

    organ_id: str
    organ_name: str
    staff: str | None = None
    department: str | None = None

    def organization(self) -> edxml.OrganizationInfo:
        return edxml.OrganizationInfo(organ_id=self.organ_id, organ_name=self.organ_name)


class _AuditSigner:
    """Signs audit checkpoints with the office's signer (the same key as its messages)."""

    def __init__(self, signer: signing.Signer) -> None:
        self._signer = signer

    @property
    def certificate_pem(self) -> bytes:
        return self._signer.certificates[0].public_bytes(Encoding.PEM)

    def sign_bytes(self, data: bytes) -> bytes:
        return signing.sign_data(self._signer, data)


@dataclass
class Office:
    """The wired parts one office's daemon works with."""

    identity: OfficeIdentity
    db: Database
    client: AxisClient
    signer: signing.Signer | None
    #: Whose signatures incoming messages may carry; None for an office that only sends.
    policy: signing.TrustPolicy | None
    worker: str
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], dt.datetime] = _utcnow
    #: A claim or a "sending" row whose heartbeat is older than this is taken over.
    stale_after: dt.timedelta = dt.timedelta(minutes=5)
    #: Backoff of the outbox after a transient failure: first delay, cap.
    retry_initial: dt.timedelta = dt.timedelta(seconds=30)
    retry_max: dt.timedelta = dt.timedelta(hours=1)
    #: Make a signed audit checkpoint after this many new entries.
    checkpoint_every: int = 100

    @property
    def office_id(self) -> str:
        return self.identity.organ_id

    def trust(self) -> signing.TrustPolicy:
        """The trust policy; receiving without one is a configuration mistake."""
        if self.policy is None:
            raise ConfigError(
                "Chưa cấu hình [trust] (chứng thư gốc tin cậy): không kiểm tra được văn bản đến",
                "no [trust] section (trusted roots): incoming messages cannot be verified",
                step="config.trust",
            )
        return self.policy

    def checkpoint_signer(self) -> audit.CheckpointSigner | None:
        return _AuditSigner(self.signer) if self.signer is not None else None


@dataclass
class StepReport:
    """What one pass of a step did (for logs, tests and the demo's progress output)."""

    done: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0
    failed: int = 0
    details: list[str] = field(default_factory=list)


# --- building status messages -------------------------------------------------------------


def _response_for(doc: edxml.Document) -> edxml.ResponseFor:
    code = doc.code
    number = code.number if code and code.number else ""
    notation = code.notation if code and code.notation else ""
    return edxml.ResponseFor(
        organ_id=doc.sender.organ_id,
        code=f"{number}/{notation}",
        promulgation_date=doc.promulgation.date if doc.promulgation else None,
        document_id=doc.document_id,
    )


def status_message(
    office: Office, doc: edxml.Document, code: str, note: str | None = None
) -> edxml.StatusMessage:
    """The status message answering ``doc`` with ``code`` (and the clerk's note)."""
    description = STATUS_TEXT.get(code, code)
    if note:
        description = f"{description}: {note}"
    staff = None
    if office.identity.staff or office.identity.department:
        staff = edxml.StaffInfo(staff=office.identity.staff, department=office.identity.department)
    return edxml.StatusMessage(
        sender=office.identity.organization(),
        response_for=_response_for(doc),
        staff_info=staff,
        status_code=code,
        description=description[:500],
        timestamp=office.clock(),
    )


def _queue_status(
    conn: Any, office: Office, doc: edxml.Document, code: str, note: str | None
) -> int | None:
    """Queue the status reply to ``doc``'s sender in the caller's transaction."""
    try:
        data = edxml.write(status_message(office, doc, code, note))
    except edxml.EdxmlWriteError as exc:
        # A document too malformed to answer strictly (no DocumentId, say): record why.
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.SEND_FAILED,
            {
                "kind": "status",
                "status_code": code,
                "document_id": doc.document_id,
                "reason": exc.en,
            },
        )
        return None
    row_id, new = outbox_store.enqueue(
        conn,
        office_id=office.office_id,
        kind="status",
        document_id=doc.document_id or "",
        status_code=code,
        message=data,
        recipients=[doc.sender.organ_id],
        signed=False,
        now=office.clock(),
    )
    if new:
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.QUEUED,
            {
                "outbox_id": row_id,
                "kind": "status",
                "status_code": code,
                "document_id": doc.document_id,
                "to": [doc.sender.organ_id],
            },
        )
    return row_id


# --- inbound ------------------------------------------------------------------------------


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
                _queue_status(
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


def row_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


# --- outbound -----------------------------------------------------------------------------


def _backoff(office: Office, attempts: int) -> dt.timedelta:
    base = office.retry_initial.total_seconds() * (2 ** max(0, attempts - 1))
    capped = min(base, office.retry_max.total_seconds())
    return dt.timedelta(seconds=capped * random.uniform(0.5, 1.0))  # noqa: S311 - jitter


def send_due(office: Office, *, limit: int = 100) -> StepReport:
    """Send queued messages that are due, until none is left (or ``limit`` were tried)."""
    report = StepReport()
    now = office.clock()
    with office.db.transaction() as conn:
        outbox_store.reclaim_stalled(conn, stale_before=now - office.stale_after, now=now)
    for _ in range(limit):
        with office.db.transaction() as conn:
            row = outbox_store.claim_next(
                conn, worker=office.worker, now=office.clock(), office_id=office.office_id
            )
        if row is None:
            break
        _send_one(office, row, report)
    maybe_checkpoint(office)
    return report


@dataclass(frozen=True)
class Dispatch:
    """What :func:`send_now` did with a message: where it stands in the outbox."""

    outbox_id: int
    #: False when the same bytes were queued before (nothing new was queued).
    new: bool
    #: The outbox state: ``sent``, ``queued`` (another worker has it, or a retry is due
    #: later), ``sending`` (another worker is uploading it) or ``failed``.
    state: str
    axis_doc_id: str | None
    error: str | None
    recipients: tuple[str, ...]


def send_now(office: Office, data: bytes, *, progress: Progress | None = None) -> Dispatch:
    """Queue this office's message and send it at once, exactly as the daemon would.

    A manual send is a daemon send: registered in the outbox (with its audit events),
    signed with the office key when it is not signed yet, sent, its result recorded, and
    followed afterwards like every sent document. If a daemon holds the row, it is left to
    it. Raises what :func:`queue_message` raises; a failed send is a state, not a raise.
    """
    row_id, new = queue_message(office, data)
    with office.db.transaction() as conn:
        row = outbox_store.claim_next(
            conn, worker=office.worker, now=office.clock(), office_id=office.office_id,
            row_id=row_id,
        )
    if row is not None:
        _send_one(office, row, StepReport(), progress=progress)
    with office.db.engine.connect() as conn:
        final = outbox_store.get(conn, row_id)
    return Dispatch(
        outbox_id=row_id,
        new=new,
        state=final.state.value,
        axis_doc_id=final.axis_doc_id,
        error=final.last_error,
        recipients=final.recipients,
    )


def _send_one(
    office: Office,
    row: outbox_store.OutboxRow,
    report: StepReport,
    *,
    progress: Progress | None = None,
) -> None:
    data = row.message
    if not row.signed:
        if office.signer is None:
            data = row.message  # unsigned exchange (a test axis accepts it): send as is
        else:
            data = signing.sign(row.message, office.signer)
            with office.db.transaction() as conn:
                outbox_store.replace_message(conn, row.id, office.worker, data, office.clock())
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.SIGNED,
                    {
                        "outbox_id": row.id,
                        "document_id": row.document_id,
                        "sha256": row_sha(data),
                        "signer": office.signer.certificates[0].subject.rfc4514_string(),
                    },
                )
    message_type = MessageType.STATUS if row.kind == "status" else MessageType.EDOC
    try:
        result = office.client.send(
            data,
            sender=office.office_id,
            message_type=message_type,
            progress=_heartbeat_while_sending(office, row, also=progress),
        )
    except (AxisRejected, AxisAuthError) as exc:
        _failed(office, row, exc, permanent=isinstance(exc, AxisRejected))
        report.failed += 1
        return
    except AxisError as exc:
        _failed(office, row, exc, permanent=False)
        report.failed += 1
        return
    now = office.clock()
    with office.db.transaction() as conn:
        outbox_store.mark_sent(conn, row.id, office.worker, result.doc_id, now)
        if row.kind == "status":
            inbox_store.record_status(
                conn,
                office_id=office.office_id,
                direction="out",
                document_id=row.document_id,
                counterpart=row.recipients[0] if row.recipients else "",
                status_code=row.status_code or "",
                axis_doc_id=result.doc_id,
                message=data,
                now=now,
            )
            audit.append(
                conn,
                office.office_id,
                audit.AuditEvent.STATUS_SENT,
                {
                    "outbox_id": row.id,
                    "axis_doc_id": result.doc_id,
                    "document_id": row.document_id,
                    "status_code": row.status_code,
                    "to": list(row.recipients),
                },
            )
        else:
            for organ in row.recipients:
                outbox_store.set_recipient_status(conn, row.id, organ, now, send_status="sent")
            audit.append(
                conn,
                office.office_id,
                audit.AuditEvent.SENT,
                {
                    "outbox_id": row.id,
                    "axis_doc_id": result.doc_id,
                    "document_id": row.document_id,
                    "sha256": row_sha(data),
                    "to": list(row.recipients),
                },
            )
    office.metrics.sent(row.kind)
    report.done += 1
    report.details.append(f"{row.kind} {row.document_id}: {result.doc_id}")


def _heartbeat_while_sending(
    office: Office, row: outbox_store.OutboxRow, *, also: Progress | None = None
) -> Progress:
    """A progress callback that keeps the claim alive during a long upload.

    Over a weak link a large message can take longer than ``stale_after``; without a
    heartbeat another daemon would reclaim the row and send it a second time.
    """
    every = office.stale_after.total_seconds() / 3
    last = time.monotonic()

    def beat(sent: int, total: int) -> None:
        nonlocal last
        if also is not None:
            also(sent, total)  # the clerk's progress bar
        if time.monotonic() - last < every:
            return
        last = time.monotonic()
        with office.db.transaction() as conn:
            outbox_store.heartbeat(conn, row.id, office.worker, office.clock())

    return beat


def _failed(
    office: Office, row: outbox_store.OutboxRow, exc: AxisError, *, permanent: bool
) -> None:
    now = office.clock()
    error = exc.diagnostics()
    office.metrics.error(type(exc).__name__)
    with office.db.transaction() as conn:
        if permanent:
            outbox_store.mark_failed(conn, row.id, office.worker, error, now)
        else:
            next_at = now + _backoff(office, row.attempts)
            outbox_store.mark_retry(conn, row.id, office.worker, error, next_at, now)
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.SEND_FAILED,
            {
                "outbox_id": row.id,
                "document_id": row.document_id,
                "kind": row.kind,
                "error": error[:500],
                "permanent": permanent,
                "attempts": row.attempts,
            },
        )
    log.warning("send failed (%s): %s", "permanent" if permanent else "will retry", error)


def follow_sent(office: Office) -> StepReport:
    """Ask the axis how each unfinished sent document fares with each recipient."""
    report = StepReport()
    with office.db.engine.connect() as conn:
        rows = outbox_store.find_sent(conn, office_id=office.office_id)
    for row in rows:
        if row.axis_doc_id is None:
            continue
        try:
            statuses = office.client.sent_status(row.axis_doc_id)
        except AxisTransientError:
            report.skipped += 1
            continue
        now = office.clock()
        with office.db.transaction() as conn:
            for st in statuses:
                if outbox_store.set_recipient_status(
                    conn,
                    row.id,
                    st.to_code,
                    now,
                    send_status=st.send_status,
                    receive_status=st.receive_status,
                    status_code=st.last_status_code,
                ):
                    report.done += 1
            outbox_store.mark_final_if_done(conn, row, FINAL_STATUSES, now)
    return report


def maybe_checkpoint(office: Office) -> None:
    """Sign a checkpoint when enough entries were appended since the last one."""
    with office.db.transaction() as conn:
        last = audit.latest_checkpoint(conn, office.office_id)
        size = audit.log_size(conn, office.office_id)
        if size and size - (last.tree_size if last else 0) >= office.checkpoint_every:
            audit.make_checkpoint(conn, office.office_id, office.checkpoint_signer())


def checkpoint_now(office: Office) -> audit.Checkpoint:
    """A signed checkpoint of the log as it is now (shutdown, demo, before an export)."""
    with office.db.transaction() as conn:
        return audit.make_checkpoint(conn, office.office_id, office.checkpoint_signer())


# --- the clerk ----------------------------------------------------------------------------


def mark(
    office: Office, document_id: str, code: str, note: str | None = None
) -> inbox_store.InboxRow:
    """The clerk moves a received document to ``code`` and the sender is told.

    Raises StoreError when no such document was received or the move is not allowed.
    """
    now = office.clock()
    with office.db.transaction() as conn:
        row = inbox_store.find_incoming(conn, office.office_id, document_id=document_id)
        if row is None:
            raise StoreError(
                f"Không có văn bản đến nào mang mã {document_id}",
                f"no received document has DocumentId {document_id}",
                step="mark",
            )
        updated = inbox_store.set_clerk_state(conn, row, code, now)
        doc = edxml.read(row.message).message
        assert isinstance(doc, edxml.Document)
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.CLERK_ACTION,
            {
                "document_id": document_id,
                "from_state": row.clerk_state,
                "to_state": code,
                "note": note,
                "staff": office.identity.staff,
            },
        )
        _queue_status(conn, office, doc, code, note)
    return updated


# --- what a clerk gets from the store -----------------------------------------------------


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


# --- the outbox, from the office's side ---------------------------------------------------


def queue_message(office: Office, data: bytes, *, composed: bool = False) -> tuple[int, bool]:
    """Put an edXML message (this office's own, signed or not) in the outbox.

    The message is read strictly: the office never sends what a strict peer could refuse.
    Returns (outbox id, whether it is new); queuing the same bytes again is a no-op.
    """
    result = edxml.read(data, strict=True)
    message = result.message
    if message.sender.organ_id != office.office_id:
        raise StoreError(
            f"Văn bản ghi nơi gửi {message.sender.organ_id}, không phải cơ quan này "
            f"({office.office_id})",
            f"the message's sender is {message.sender.organ_id}, not this office "
            f"({office.office_id})",
            step="queue",
        )
    if isinstance(message, edxml.Document):
        kind, document_id, code = "edoc", message.document_id or "", None
        recipients = [org.organ_id for org in message.recipients]
        subject = message.subject
    else:
        kind, document_id, code = (
            "status",
            message.response_for.document_id or "",
            message.status_code,
        )
        recipients = [message.response_for.organ_id or ""]
        subject = message.description
    signed = message.signature is not None
    with office.db.transaction() as conn:
        row_id, new = outbox_store.enqueue(
            conn,
            office_id=office.office_id,
            kind=kind,
            document_id=document_id,
            status_code=code,
            subject=subject,
            message=data,
            recipients=recipients,
            signed=signed,
            now=office.clock(),
        )
        if new:
            if composed:
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.COMPOSED,
                    {"document_id": document_id, "kind": kind, "sha256": row_sha(data)},
                )
            if signed:
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.SIGNED,
                    {
                        "document_id": document_id,
                        "kind": kind,
                        "sha256": row_sha(data),
                        "signer": _signature_subject(message),
                    },
                )
            audit.append(
                conn,
                office.office_id,
                audit.AuditEvent.QUEUED,
                {
                    "outbox_id": row_id,
                    "kind": kind,
                    "document_id": document_id,
                    "to": recipients,
                    "sha256": row_sha(data),
                },
            )
    return row_id, new


def _signature_subject(message: edxml.Message) -> str | None:
    """The subject of the certificate in a message's own signature (not verified here)."""
    if message.signature is None:
        return None
    found = message.signature.element().find(f".//{{{edxml.DSIG_NS}}}X509Certificate")
    if found is None or not found.text:
        return None
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(found.text))
    except ValueError:
        return None
    return cert.subject.rfc4514_string()
