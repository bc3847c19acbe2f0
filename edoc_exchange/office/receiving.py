"""Receiving: every listed item is claimed, fetched, verified, stored with its reply queued,
and only then acknowledged at the axis; and the files a clerk gets from the store.

A crash at any moment neither loses nor duplicates an item: the claim lasts until the
acknowledgement is recorded, so that event too is written exactly once; an item that
shows up again is recognised and acknowledged again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audit, edxml, signing
from ..axis import (
    AckStatus,
    AxisError,
    FetchedFile,
    MessageType,
)
from ..edxml.large import read_file_lazily
from ..store import Database, InboxVerdict, StoreError, listing
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ..store.blobs import BlobStore
from ..store.listing import Listed
from . import large, lifecycle
from ._inbound import Judgement
from ._office import FINAL_STATUSES, Office, StepReport
from .clerk import received_document
from .pdfchecks import (
    PdfVerdictRow,
    check_pdfs_quietly,
    record_verdicts,
    verdicts_of,
)
from .replies import queue_status
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


def _ack_status(verdict: InboxVerdict) -> AckStatus:
    return AckStatus.DONE if verdict is InboxVerdict.VERIFIED else AckStatus.FAIL


def _ack_status_of(row: inbox_store.InboxRow) -> AckStatus:
    return _ack_status(row.verdict)


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


#: Claimed items a daemon takes from the work list at once: fewer statements per document,
#: while the rest of the list stays free for the other daemons.
TAKE = 8
#: Documents fetched ahead of the one being verified and stored.
PREFETCH = 4
#: Documents already fetched that are stored in one transaction (one commit, one flush).
GROUP = 4


@dataclass
class _Acked:
    """An acknowledgement sent (or being sent) to the axis, to be recorded with its claim."""

    item: Listed
    status: AckStatus
    document_id: str
    future: Future[None]


class _Intake:
    """One inbound pass as a pipeline: fetching the next documents and acknowledging the
    previous ones (at the axis, in two threads) overlap with verifying and storing the
    current one; the acknowledgements the axis took are recorded in the next storing
    transaction, so the audit log keeps each document's order (received, verified,
    queued, then acknowledged) and a document costs one transaction, not two.
    """

    def __init__(self, office: Office, report: StepReport, *, polls: bool) -> None:
        self.office = office
        self.report = report
        self.claimed: deque[Listed] = deque()
        self.fetching: deque[tuple[Listed, Future[FetchedFile]]] = deque()
        self.acks: deque[_Acked] = deque()
        self.listed = not polls  # only the daemon that polls this interval lists
        self.fetcher = ThreadPoolExecutor(1, thread_name_prefix="edoc-fetch")
        # Fetched messages stream into files here (a large one never whole in memory);
        # made with the first fetch.
        self._folder: Path | None = None
        self.acker = ThreadPoolExecutor(1, thread_name_prefix="edoc-ack")

    def _take(self) -> list[Listed]:
        """Claimed items from the office's work list; list the axis (once a pass) when the
        work list is empty."""
        office = self.office
        while True:
            now = office.clock()
            with office.db.read() as conn:
                waiting = listing.has_listed(conn, office.office_id)
            if waiting:
                with office.db.transaction() as conn:
                    taken = listing.take_listed(
                        conn,
                        office_id=office.office_id,
                        worker=office.worker,
                        worker_id=office.worker_id,
                        now=now,
                        stale_before=now - office.stale_after,
                        limit=TAKE,
                    )
                if taken:
                    return taken
            if self.listed:
                return []  # nothing to take, and no listing this pass: no write
            self.listed = True
            items = office.axis.list_received(MessageType.EDOC)
            office.metrics.polled()
            if not items:
                return []
            with office.db.transaction() as conn:
                listing.add_listed(
                    conn,
                    office.office_id,
                    [(i.doc_id, i.sender) for i in items],
                    now=now,
                    stale_before=now - office.stale_after,
                    worker=office.worker,
                )

    def _fill(self) -> None:
        while len(self.fetching) < PREFETCH:
            if not self.claimed:
                self.claimed.extend(self._take())
            if not self.claimed:
                return
            item = self.claimed.popleft()
            if self._in_hand(item.axis_doc_id):
                continue  # listed again while this worker still holds it
            if item.stored is not None:
                # Stored before (a crash before acknowledging, or another daemon): just
                # acknowledge; recorded only if its claim is still there.
                self._acknowledge(item, _ack_status(item.stored.verdict), item.stored.document_id)
                self.report.duplicates += 1
                continue
            self.fetching.append((item, self.fetcher.submit(self._fetch, item)))

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="edoc-in-"))
        return self._folder

    def _fetch(self, item: Listed) -> FetchedFile:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", item.axis_doc_id)[:100] or "item"
        return self.office.axis.fetch_to_file(
            item.axis_doc_id,
            self.folder / f"{name}.edxml",
            max_bytes=edxml.DEFAULT_LIMITS.max_bytes,
        )

    def run(self) -> None:
        office, report = self.office, self.report
        while True:
            if office.stopping:
                # The items in hand (fetched or being fetched: downloaded over a weak link
                # perhaps) are still stored and acknowledged; nothing new is started.
                report.interrupted = True
            else:
                self._fill()
            if not self.fetching:
                return
            # The next item, and with it those already fetched (up to GROUP): stored in
            # one transaction, so a burst of documents costs one commit, not one each.
            group = [self.fetching.popleft()]
            while self.fetching and self.fetching[0][1].done() and len(group) < GROUP:
                group.append(self.fetching.popleft())
            fetched: list[tuple[Listed, FetchedFile]] = []
            try:
                for item, future in group:
                    fetched.append((item, future.result()))
            except BaseException:
                # Nothing of the group was stored: another pass may try.
                self._release([item for item, _ in group])
                for _item, got in fetched:
                    large.discard(got)
                raise
            to_check: list[int] = []
            for item, (document_id, verdict, new, inbox_id, checked) in zip(
                [i for i, _ in fetched], self._store(fetched), strict=True
            ):
                # Stored, reply queued: only now tell the axis (the claim is kept until
                # recorded).
                self._acknowledge(item, _ack_status(verdict), document_id)
                if new and verdict is InboxVerdict.VERIFIED and not checked:
                    to_check.append(inbox_id)  # a large message: checked from its file
                outcome = verdict.value if new else "duplicate"
                if outcome == "rejected":
                    report.rejected += 1
                elif new:
                    report.done += 1
                else:
                    report.duplicates += 1
                report.details.append(f"{item.axis_doc_id}: {outcome}")
            # A large message's PDFs, while the acknowledgements go out: checked from its
            # stored file, in a transaction of their own (see .pdfchecks).
            for inbox_id in to_check:
                check_pdfs_quietly(office, inbox_id)
            keep_wal_small(office)  # a large message leaves a large WAL behind

    def _in_hand(self, axis_doc_id: str) -> bool:
        return any(i.axis_doc_id == axis_doc_id for i, _ in self.fetching) or any(
            a.item.axis_doc_id == axis_doc_id for a in self.acks
        )

    def _acknowledge(self, item: Listed, status: AckStatus, document_id: str) -> None:
        future = self.acker.submit(self.office.axis.acknowledge, item.axis_doc_id, status)
        self.acks.append(_Acked(item, status, document_id, future))

    def _answered(self, *, wait: bool) -> list[_Acked]:
        """Acknowledgements the axis took, oldest first (all of them, with ``wait``); the
        first one that failed is raised after those before it are handed back."""
        done: list[_Acked] = []
        while self.acks and (wait or self.acks[0].future.done()):
            acked = self.acks[0]
            exc = acked.future.exception()
            if exc is not None:
                if done:
                    return done  # record these first; the failure is raised next time
                self.acks.popleft()
                raise exc
            done.append(self.acks.popleft())
        return done

    def _record_acks(self, conn: Any, acked: list[_Acked]) -> None:
        """Release the claims of acknowledged items and record each acknowledgement once
        (only the worker that removes a claim records it; see ``_ack_claimed``)."""
        released = set(
            inbox_store.release_claims(
                conn,
                office_id=self.office.office_id,
                axis_doc_ids=[a.item.axis_doc_id for a in acked],
            )
        )
        for a in acked:
            if a.item.axis_doc_id in released:
                released.discard(a.item.axis_doc_id)  # one claim, one record
                audit.append(
                    conn,
                    self.office.office_id,
                    audit.AuditEvent.ACKNOWLEDGED,
                    {
                        "axis_doc_id": a.item.axis_doc_id,
                        "status": a.status.value,
                        "document_id": a.document_id,
                    },
                )

    def _store(
        self, fetched: list[tuple[Listed, FetchedFile]]
    ) -> list[tuple[str, InboxVerdict, bool, int, bool]]:
        """Verify fetched items and store them, each with its reply queued and its PDFs'
        verdicts, in one transaction that also records the acknowledgements the axis took
        meanwhile; (the DocumentId, the verdict, whether it was new, the inbox id, whether
        its PDFs were checked) of each, in order."""
        office = self.office
        now = office.clock()
        judged: list[Judgement] = []
        pdfs: list[list[PdfVerdictRow] | None] = []
        try:
            for item, got in fetched:
                # In memory when small; on its file when large (kept as a blob, see .large).
                judgement = large.judge_fetched(
                    got, office.trust(), axis_doc_id=item.axis_doc_id, listed_sender=item.sender
                )
                judged.append(judgement)
                pdfs.append(_pdf_verdicts(office, judgement))
            acked = self._answered(wait=False)

            def store(conn: Any) -> list[tuple[inbox_store.InboxRow, bool]]:
                # One audit flush (head locked just before commit) for the step's events.
                with audit.batch(conn, office.office_id):
                    self._record_acks(conn, acked)
                    stored = [
                        _store_judged(conn, office, item, judgement, got.sha256, now, pdf)
                        for (item, got), judgement, pdf in zip(fetched, judged, pdfs, strict=True)
                    ]
                    # The new documents' PDF verdicts, in one statement for the group.
                    record_verdicts(
                        conn,
                        office,
                        [
                            (row.id, pdf)
                            for (row, new), pdf in zip(stored, pdfs, strict=True)
                            if new and pdf and row.verdict is InboxVerdict.VERIFIED
                        ],
                    )
                    return stored

            try:
                rows = office.db.run(store)  # again on a new connection if it died
            except BaseException:
                # Not recorded: put them back, to be recorded with the next item or at the end.
                self.acks.extendleft(reversed(acked))
                raise
        except BaseException:
            self._release([item for item, _ in fetched])
            raise
        finally:
            for index, (_item, got) in enumerate(fetched):
                large.discard(got, judged[index] if index < len(judged) else None)
        results: list[tuple[str, InboxVerdict, bool, int, bool]] = []
        for (item, _got), judgement, pdf, (row, new) in zip(
            fetched, judged, pdfs, rows, strict=True
        ):
            if new and row.identity_finding:
                log.warning("%s: %s", item.axis_doc_id, row.identity_finding)
            office.metrics.received(row.verdict.value)
            results.append(
                (judgement.fields.document_id, row.verdict, new, row.id, pdf is not None)
            )
        return results

    def _release(self, items: list[Listed]) -> None:
        """Give up claims of items not stored (a failure, or a stop): they stay listed at the
        axis, and the next listing adds them to the work list again."""
        if not items:
            return
        with self.office.db.transaction() as conn:
            for item in items:
                if (
                    inbox_store.find_incoming(
                        conn, self.office.office_id, axis_doc_id=item.axis_doc_id
                    )
                    is None
                ):
                    inbox_store.release_claim(
                        conn, office_id=self.office.office_id, axis_doc_id=item.axis_doc_id
                    )

    def close(self) -> None:
        """Stop fetching, give back what was claimed but not stored, and record every
        acknowledgement still in flight (an acknowledgement that failed keeps its claim:
        the next pass acknowledges it again)."""
        for _item, fetched in self.fetching:
            fetched.cancel()
        self.fetcher.shutdown(wait=True)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)  # fetched, not stored: listed still
        pending = list(self.claimed) + [item for item, _ in self.fetching]
        self.claimed.clear()
        self.fetching.clear()
        self.acker.shutdown(wait=True)
        failure: BaseException | None = None
        try:
            self._release(pending)
            while self.acks:
                try:
                    acked = self._answered(wait=True)
                except AxisError as exc:
                    self.report.failed += 1
                    failure = failure or exc
                    log.warning("cannot acknowledge: %s", exc.diagnostics())
                    continue
                if acked:
                    with (
                        self.office.db.transaction() as conn,
                        audit.batch(conn, self.office.office_id),
                    ):
                        self._record_acks(conn, acked)
        finally:
            self.acks.clear()
        if failure is not None:
            raise failure


def _may_poll(office: Office, kind: str, now: dt.datetime) -> bool:
    """Whether this daemon lists ``kind`` at the axis in this pass (one of the office's
    daemons per ``office.list_every``)."""
    if office.list_every <= dt.timedelta(0):
        return True
    with office.db.read() as conn:
        if listing.polled_recently(conn, office.office_id, kind, now=now, every=office.list_every):
            return False  # a read: idle daemons stay off the write lock
    with office.db.transaction() as conn:
        return listing.may_poll(
            conn, office.office_id, kind, worker=office.worker, now=now, every=office.list_every
        )


def receive_documents(office: Office) -> StepReport:
    """One inbound pass: every listed document is stored once, answered and acknowledged.

    The office's daemons share one work list (:mod:`..store.listing`), fed by one listing
    of the axis, and take a few items at a time. When the daemon is asked to stop, the pass
    ends after the items in hand (the one being stored and those being fetched ahead, at
    most ``PREFETCH``; ``report.interrupted``); the rest stays listed at the axis.
    """
    report = StepReport()
    # The daemon that lists the axis this interval also finishes what dead workers (and
    # its own earlier passes) left unrecorded; the others only take from the work list,
    # so an idle pass of many daemons costs little.
    polls = _may_poll(office, "edoc", office.clock())
    if polls:
        _finish_acknowledgements(office, report, statuses=False)
    if office.stopping:
        report.interrupted = True
        return report
    intake = _Intake(office, report, polls=polls)
    try:
        intake.run()
    except BaseException:
        try:
            intake.close()
        except Exception as exc:  # the first failure is the one to report
            log.warning("while stopping the inbound pass: %s", exc)
        raise
    intake.close()
    return report


def _pdf_verdicts(office: Office, judged: Judgement) -> list[PdfVerdictRow] | None:
    """The verdicts of a verified message's PDFs, from the message in memory; None when
    they are checked later (a large message, kept on its file) or the checker failed (then
    :func:`check_pdfs_quietly` tries again after the store)."""
    verified = judged.verified
    if verified is None or _staged(judged.record):
        return None if verified is not None else []
    try:
        return verdicts_of(office, verified.message)
    except Exception as exc:  # information only: never a reason not to store the document
        log.warning("PDF signatures not checked before storing: %s", exc)
        return None


def _store_judged(
    conn: Any,
    office: Office,
    item: Listed,
    judged: Judgement,
    sha256: str,
    now: dt.datetime,
    pdf_verdicts: list[PdfVerdictRow] | None = None,
) -> tuple[inbox_store.InboxRow, bool]:
    """Store a judged item (verified record or rejection evidence), with its audit events
    (telling its PDFs' verdicts) and reply, in the caller's transaction; (row, whether it
    is new). The verdicts' rows are written by the caller, for the whole group at once."""
    # The blob folder only for a large message (a PostgreSQL store names it in settings).
    blobs = large.blob_store(office) if _staged(judged.record) else None
    if isinstance(judged.record, inbox_store.VerifiedRecord):
        row, new = inbox_store.store_incoming_verified(
            conn,
            judged.record,
            blobs=blobs,
            office_id=office.office_id,
            axis_doc_id=item.axis_doc_id,
            state=edxml.StatusCode.ARRIVED,
            now=now,
        )
    else:
        row, new = inbox_store.store_incoming_rejected(
            conn,
            judged.record,
            blobs=blobs,
            office_id=office.office_id,
            axis_doc_id=item.axis_doc_id,
            state=edxml.StatusCode.REJECTED,
            now=now,
        )
    if new:
        _record_arrival(conn, office, item.axis_doc_id, judged, sha256, pdf_verdicts)
        if judged.verified is not None and isinstance(judged.verified.message, edxml.Document):
            # A revoke, update or replace: applied to its sender's stored original.
            lifecycle.document_arrived(conn, office, row, judged.verified.message)
    return row, new


def _staged(record: inbox_store.VerifiedRecord | inbox_store.RejectedRecord) -> bool:
    if isinstance(record, inbox_store.VerifiedRecord):
        return record.signed_file is not None
    return record.evidence_file is not None


def _record_arrival(
    conn: Any,
    office: Office,
    axis_doc_id: str,
    judged: Judgement,
    sha256: str,
    pdf_verdicts: list[PdfVerdictRow] | None = None,
) -> None:
    """The audit events of a new arrival, and its 01/02 reply, in the storing transaction;
    the PDFs' verdicts, when checked, are told in the VERIFIED event (one event, not two)."""
    fields = judged.fields
    audit.append(
        conn,
        office.office_id,
        audit.AuditEvent.RECEIVED,
        {
            "axis_doc_id": axis_doc_id,
            "document_id": fields.document_id,
            "from": fields.sender,
            # Of the bytes as delivered (hops and all); the inbox keeps the signed message.
            "sha256": sha256,
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
        if verified.timestamp_verdict is not None:  # the RFC 3161 timestamp, as judged
            event["timestamp"] = verified.timestamp_verdict.as_json()
        if verified.revocation is not None:  # good, or "not checked since …" (prefer)
            event["revocation"] = str(verified.revocation)
        if pdf_verdicts:
            event["pdf_signatures"] = [
                {"name": v.name, "verdict": v.verdict, "reason": v.reason} for v in pdf_verdicts
            ]
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
    if not _may_poll(office, "status", office.clock()):
        return report  # another daemon of the office takes this interval's statuses
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
                asked = lifecycle.status_arrived(conn, office, msg, now)  # 13, 15, 16
                if problem is None and not asked and not _match_sent(conn, office, msg, now):
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
    db: Database,
    office_id: str,
    document_id: str,
    *,
    sender: str | None = None,
    blob_dir: Path | None = None,
) -> list[edxml.AttachedFile]:
    """The files of a received, verified document, as a clerk gets them.

    They are read from the verified projection: the signed message the inbox kept (what
    the signature covers, nothing an axis appended), with the SDK's zip unpacked. A
    rejected item's files are not handed out: nothing vouches for them. ``sender`` picks
    one sender's document when several used this DocumentId; ``blob_dir`` is ``[store]
    blob_dir`` (where a large message is kept). Raises StoreError saying why not.
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
        blobs = None
        if row.message_blob is not None:
            blobs = BlobStore(blob_dir) if blob_dir is not None else BlobStore.beside(db.engine)
        verified = inbox_store.verified_document(conn, row, blobs=blobs)
    if verified.content_file is not None:
        # Kept as a blob: read lazily (the attachments' bytes stay in the file until asked).
        message = read_file_lazily(verified.content_file).message
    else:
        message = edxml.read(verified.content).message
    if not isinstance(message, edxml.Document):
        return []
    return [att.file for att in message.attachments]
