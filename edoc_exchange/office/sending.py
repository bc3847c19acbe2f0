"""Sending: a message is queued with its audit events, signed and stored before the first
send (so every resend is byte-identical and the axis de-duplicates it), sent, followed.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from .. import audit, edxml, signing
from ..axis import (
    AxisAuthError,
    AxisError,
    AxisRejected,
    AxisTransientError,
    MessageType,
    Progress,
    Upload,
)
from ..edxml.large import read_file_lazily
from ..store import StoreError
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ..store.blobs import StagedFile
from . import large
from ._office import FINAL_STATUSES, FollowPolicy, Office, StepReport
from .checkpoints import maybe_checkpoint
from .replies import row_sha
from .worker import keep_wal_small

__all__ = [
    "FOLLOW_STOPPED",
    "Dispatch",
    "follow_sent",
    "followed_by_push",
    "queue_message",
    "queue_within",
    "send_due",
    "send_now",
    "status_problem",
    "unmatched_status",
]

log = logging.getLogger("edoc.office")


def _backoff(office: Office, attempts: int) -> dt.timedelta:
    base = office.retry_initial.total_seconds() * (2 ** max(0, attempts - 1))
    capped = min(base, office.retry_max.total_seconds())
    return dt.timedelta(seconds=capped * random.uniform(0.5, 1.0))  # noqa: S311 - jitter


def send_due(office: Office, *, limit: int = 100) -> StepReport:
    """Send queued messages that are due, one at a time, until none is left (or ``limit``
    were tried, or the daemon is stopping: then after the message in hand).

    First, the work of workers that stopped or died goes back in the queue (one query).
    """
    report = StepReport()
    now = office.clock()
    with office.db.transaction() as conn:
        outbox_store.reclaim_stalled(conn, stale_before=now - office.stale_after, now=now)
    for _ in range(limit):
        if office.stopping:
            report.interrupted = True
            break
        with office.db.transaction() as conn:
            row = outbox_store.claim_next(
                conn,
                worker=office.worker,
                worker_id=office.worker_id,
                now=office.clock(),
                office_id=office.office_id,
            )
        if row is None:
            break
        _send_one(office, row, report)
        keep_wal_small(office)  # signing stored a large message: its WAL is cut back
    if not office.stopping:
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


def send_now(office: Office, data: bytes | Path, *, progress: Progress | None = None) -> Dispatch:
    """Queue this office's message and send it at once, exactly as the daemon would.

    A manual send is a daemon send: registered in the outbox (with its audit events),
    signed with the office key when it is not signed yet, sent, its result recorded, and
    followed afterwards like every sent document. If a daemon holds the row, it is left to
    it. Raises what :func:`queue_message` raises, and ConfigError before queuing anything
    when the office has no axis to send to; a failed send is a state, not a raise.
    """
    _ = office.axis  # without an axis "send now" cannot be: refuse before queuing anything
    row_id, new = (
        queue_file(office, data) if isinstance(data, Path) else queue_message(office, data)
    )
    with office.db.transaction() as conn:
        row = outbox_store.claim_next(
            conn,
            worker=office.worker,
            now=office.clock(),
            office_id=office.office_id,
            row_id=row_id,
            worker_id=office.worker_id,
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
    data: bytes | Path = row.message
    if row.message_blob is not None:  # large: streamed from its blob, signed when queued
        data = outbox_store.message_source(row, large.blob_store(office))
    elif not row.signed:
        if office.signer is None:
            data = row.message  # unsigned exchange (a test axis accepts it): send as is
        else:
            try:
                signed = signing.sign(row.message, office.signer)
            except signing.TimestampError as exc:  # the TSA is down: retried later
                _failed(office, row, exc, permanent=False)
                report.failed += 1
                return
            data = signed
            with office.db.transaction() as conn:
                outbox_store.replace_message(conn, row.id, office.worker, signed, office.clock())
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
        result = office.axis.send(
            data,
            sender=office.office_id,
            message_type=message_type,
            progress=_progress(office, row, also=progress),
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
        outbox_store.mark_sent(
            conn,
            row.id,
            office.worker,
            result.doc_id,
            now,
            follow_after=office.follow.first if row.kind == "edoc" else None,
        )
        if row.kind == "status":
            inbox_store.record_status(
                conn,
                office_id=office.office_id,
                direction="out",
                document_id=row.document_id,
                counterpart=row.recipients[0] if row.recipients else "",
                status_code=row.status_code or "",
                axis_doc_id=result.doc_id,
                message=data if isinstance(data, bytes) else None,
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
                    "sha256": row_sha(data) if isinstance(data, bytes) else row.message_blob,
                    "to": list(row.recipients),
                },
            )
    office.metrics.sent(row.kind)
    report.done += 1
    report.details.append(f"{row.kind} {row.document_id}: {result.doc_id}")


def _progress(
    office: Office, row: outbox_store.OutboxRow, *, also: Progress | None = None
) -> Progress | None:
    """The upload's progress callback: the clerk's, plus the row's own heartbeat when no
    worker row keeps the claim alive (a one-shot ``edoc send``); a daemon's worker thread
    beats for all its claims."""
    if office.worker_id is not None:
        return also
    return _heartbeat_while_sending(office, row, also=also)


def _heartbeat_while_sending(
    office: Office, row: outbox_store.OutboxRow, *, also: Progress | None = None
) -> Progress:
    """A progress callback that keeps a claim without a worker row alive during a long
    upload.

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
    office: Office,
    row: outbox_store.OutboxRow,
    exc: AxisError | signing.TimestampError,
    *,
    permanent: bool,
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


#: The audit event of a document whose following stopped at the horizon (a name of its
#: own: the audit log's names are read by inspectors and reports).
FOLLOW_STOPPED = audit.AuditEvent.FOLLOW_STOPPED


def follow_sent(office: Office) -> StepReport:
    """Ask the axis how the sent documents that are due fare with their recipients.

    Only documents whose next poll is due are read (by index, never their bytes), at most
    ``office.follow.per_pass`` of them, so a pass costs what is due, not what was ever
    sent. Each poll doubles the document's wait up to the cap (see :class:`FollowPolicy`);
    a recipient that answered a final status keeps it; a document every recipient finished
    is no longer polled; past the horizon polling stops, recorded in the audit log. When the
    axis does not answer, the pass ends and the rest stays due; an answer refusing one
    document is logged and that document waits longer (an authentication refusal, which
    every call would get, fails the pass).
    """
    report = StepReport()
    policy = office.follow
    with office.db.read() as conn:
        due = outbox_store.due_for_following(
            conn, office_id=office.office_id, now=office.clock(), limit=policy.per_pass
        )
    for ref in due:
        if office.stopping:
            report.interrupted = True
            break
        now = office.clock()
        if now >= ref.sent_at + policy.horizon:
            _stop_following(office, ref, now)
            report.details.append(f"{ref.document_id}: following stopped (horizon)")
            continue
        wait = _next_wait(policy, ref.follow_interval)
        try:
            statuses = office.axis.sent_status(ref.axis_doc_id)
        except AxisTransientError as exc:
            # The axis does not answer: the others would not fare better this pass.
            report.skipped += 1
            log.warning("following %s: %s", ref.document_id, exc.diagnostics())
            break
        except AxisAuthError:
            raise
        except AxisError as exc:
            report.failed += 1
            log.warning(
                "following %s (axis DocId %s): %s; asked again in %s",
                ref.document_id,
                ref.axis_doc_id,
                exc.diagnostics(),
                wait,
            )
            _follow_again(office, ref, now, wait)
            continue
        with office.db.transaction() as conn:
            codes = outbox_store.recipient_codes(conn, ref.id)
            for st in statuses:
                if codes.get(st.to_code) in FINAL_STATUSES:
                    continue  # that recipient is done with it: nothing the axis says changes it
                if outbox_store.set_recipient_status(
                    conn,
                    ref.id,
                    st.to_code,
                    now,
                    send_status=st.send_status,
                    receive_status=st.receive_status,
                    status_code=st.last_status_code,
                ):
                    report.done += 1
            if not outbox_store.mark_final_if_done(conn, ref, FINAL_STATUSES, now):
                outbox_store.follow_again(
                    conn, ref.id, at=_next_poll(policy, ref, now, wait), interval=wait
                )
    return report


def _next_wait(policy: FollowPolicy, current: int) -> dt.timedelta:
    """The wait after this poll: twice the current one, between ``first`` and ``cap``."""
    doubled = dt.timedelta(seconds=2 * current)
    return max(policy.first, min(doubled, policy.cap))


#: The golden ratio's fraction: multiples of it modulo 1 spread as evenly as can be.
_GOLDEN = (5**0.5 - 1) / 2


def _next_poll(
    policy: FollowPolicy, ref: outbox_store.SentRef, now: dt.datetime, wait: dt.timedelta
) -> dt.datetime:
    """When to poll next: between half of ``wait`` and all of it from now, never after the
    horizon (so the stop is seen on time). Where in that span depends on the document's
    id, through the golden ratio's sequence: documents sent or answered together (ids in a
    row) are spread evenly over it, instead of being polled together again, or in the
    clumps random draws make."""
    spread = 0.5 + 0.5 * ((ref.id * _GOLDEN) % 1.0)
    return min(now + wait * spread, ref.sent_at + policy.horizon)


def _follow_again(
    office: Office, ref: outbox_store.SentRef, now: dt.datetime, wait: dt.timedelta
) -> None:
    with office.db.transaction() as conn:
        outbox_store.follow_again(
            conn, ref.id, at=_next_poll(office.follow, ref, now, wait), interval=wait
        )


def followed_by_push(
    conn: Any, office: Office, ref: outbox_store.SentRef, now: dt.datetime
) -> None:
    """A status message from a recipient of ``ref`` was recorded: once every recipient
    has answered by status message, the push works for this document, and polling it
    becomes the rare safety net (the cap) rather than the way to learn."""
    codes = outbox_store.recipient_codes(conn, ref.id)
    if all(codes.get(organ) is not None for organ in ref.recipients):
        policy = office.follow
        outbox_store.follow_again(
            conn, ref.id, at=_next_poll(policy, ref, now, policy.cap), interval=policy.cap
        )


def _stop_following(office: Office, ref: outbox_store.SentRef, now: dt.datetime) -> None:
    """The horizon passed: stop polling, and say so (audit log, log, the clerk's view)."""
    horizon = office.follow.horizon
    with office.db.transaction() as conn:
        if not outbox_store.stop_following(conn, ref.id, now):
            return
        codes = outbox_store.recipient_codes(conn, ref.id)
        unfinished = sorted(o for o in ref.recipients if codes.get(o) not in FINAL_STATUSES)
        audit.append(
            conn,
            office.office_id,
            FOLLOW_STOPPED,
            {
                "outbox_id": ref.id,
                "document_id": ref.document_id,
                "axis_doc_id": ref.axis_doc_id,
                "sent_at": ref.sent_at.isoformat(),
                "horizon_seconds": int(horizon.total_seconds()),
                "unfinished": [{"organ_id": o, "status_code": codes.get(o)} for o in unfinished],
            },
        )
    log.warning(
        "stopped following %s: sent %s, more than %s ago, and %s not finished with it; "
        "statuses that arrive are still recorded",
        ref.document_id,
        ref.sent_at.isoformat(),
        horizon,
        ", ".join(unfinished) or "no recipient",
    )


def status_problem(msg: edxml.StatusMessage) -> str | None:
    """Why a verified status message's code cannot be applied, in both languages."""
    if len(msg.status_code) == 2 and msg.status_code.isdigit():
        return None
    return (
        f"Mã trạng thái '{msg.status_code}' không hợp lệ (phải là hai chữ số): đã lưu, "
        f"không cập nhật trạng thái nơi nhận / status code '{msg.status_code}' is malformed "
        "(two digits expected): kept, no recipient's status changed"
    )


def unmatched_status(msg: edxml.StatusMessage, document_id: str) -> str:
    """What to say of a status that answers no document this office sent to its sender."""
    return (
        f"Trạng thái từ {msg.sender.organ_id} cho văn bản {document_id or '(không có mã)'} "
        "không khớp văn bản nào cơ quan đã gửi cho nơi đó: đã lưu vào lịch sử / status from "
        f"{msg.sender.organ_id} about {document_id or '(no DocumentId)'} matches no document "
        "this office sent to it: kept in the history"
    )


def queue_message(office: Office, data: bytes, *, composed: bool = False) -> tuple[int, bool]:
    """Put an edXML message (this office's own, signed or not) in the outbox.

    The message is read strictly: the office never sends what a strict peer could refuse.
    Returns (outbox id, whether it is new); queuing the same bytes again is a no-op.
    """
    message = edxml.read(data, strict=True).message
    with office.db.transaction() as conn:
        return queue_within(conn, office, data, message, composed=composed)


def queue_within(
    conn: Any,
    office: Office,
    data: bytes,
    message: edxml.Document | edxml.StatusMessage,
    *,
    composed: bool = False,
) -> tuple[int, bool]:
    """:func:`queue_message` in the caller's transaction, for a ``message`` the caller
    read strictly from ``data``: issuing a draft takes its number, queues it and marks it
    issued at once (``office.outgoing``)."""
    queued = _Queued.of(office, message, row_sha(data))
    row_id, new = outbox_store.enqueue(
        conn,
        office_id=office.office_id,
        kind=queued.kind,
        document_id=queued.document_id,
        status_code=queued.code,
        subject=queued.subject,
        message=data,
        recipients=queued.recipients,
        signed=queued.signer is not None,
        now=office.clock(),
    )
    if new:
        queued.record(conn, office, row_id, composed=composed)
    return row_id, new


def queue_file(office: Office, path: Path) -> tuple[int, bool]:
    """:func:`queue_message` for a message in a file: a large one (over
    ``ReadLimits.large_message_bytes``) that is signed already is read lazily, kept as a
    blob and sent streamed from it, never whole in memory; anything else is read and
    queued as bytes (an unsigned message is signed in memory when it is sent).
    """
    size = path.stat().st_size
    if size < edxml.DEFAULT_LIMITS.large_message_bytes:
        return queue_message(office, path.read_bytes())
    message = read_file_lazily(path, strict=True).message
    if message.signature is None:
        return queue_message(office, path.read_bytes())
    hashed = Upload.from_path(path)  # what the send will stream, hashed the same way
    staged = StagedFile(path, hashed.size, hashed.sha256)
    queued = _Queued.of(office, message, staged.sha256)
    with office.db.transaction() as conn:
        row_id, new = outbox_store.enqueue_file(
            conn,
            office_id=office.office_id,
            kind=queued.kind,
            document_id=queued.document_id,
            status_code=queued.code,
            subject=queued.subject,
            staged=staged,
            blobs=large.blob_store(office),
            recipients=queued.recipients,
            now=office.clock(),
        )
        if new:
            queued.record(conn, office, row_id, composed=False)
    return row_id, new


@dataclass(frozen=True)
class _Queued:
    """What the outbox and the audit log say of a message being queued."""

    kind: str
    document_id: str
    code: str | None
    recipients: list[str]
    subject: str | None
    signer: str | None  #: the signature's subject, None when not signed yet
    sha256: str

    @classmethod
    def of(
        cls, office: Office, message: edxml.Document | edxml.StatusMessage, sha256: str
    ) -> _Queued:
        if message.sender.organ_id != office.office_id:
            raise StoreError(
                f"Văn bản ghi nơi gửi {message.sender.organ_id}, không phải cơ quan này "
                f"({office.office_id})",
                f"the message's sender is {message.sender.organ_id}, not this office "
                f"({office.office_id})",
                step="queue",
            )
        signer = (_signature_subject(message) or "") if message.signature is not None else None
        if isinstance(message, edxml.Document):
            return cls(
                "edoc",
                message.document_id or "",
                None,
                [org.organ_id for org in message.recipients],
                message.subject,
                signer,
                sha256,
            )
        return cls(
            "status",
            message.response_for.document_id or "",
            message.status_code,
            [message.response_for.organ_id or ""],
            message.description,
            signer,
            sha256,
        )

    def record(self, conn: Any, office: Office, row_id: int, *, composed: bool) -> None:
        """The audit events of a newly queued message, in the queuing transaction."""
        facts = {"document_id": self.document_id, "kind": self.kind, "sha256": self.sha256}
        if composed:
            audit.append(conn, office.office_id, audit.AuditEvent.COMPOSED, facts)
        if self.signer is not None:
            audit.append(
                conn,
                office.office_id,
                audit.AuditEvent.SIGNED,
                {**facts, "signer": self.signer or None},
            )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.QUEUED,
            {
                "outbox_id": row_id,
                "kind": self.kind,
                "document_id": self.document_id,
                "to": self.recipients,
                "sha256": self.sha256,
            },
        )


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
