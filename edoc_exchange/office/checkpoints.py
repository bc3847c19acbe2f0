"""Signed checkpoints of the office's audit log, made as the log grows and at a stop."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, TextIO

from .. import audit
from ..errors import EdocError
from ._office import Office

__all__ = [
    "LogLine",
    "LogPage",
    "LogStatus",
    "checkpoint_now",
    "document_timeline",
    "export_audit_log",
    "log_status",
    "log_timeline",
    "maybe_checkpoint",
    "verify_log",
]

log = logging.getLogger("edoc.office")


def maybe_checkpoint(office: Office) -> None:
    """Sign a checkpoint when enough entries were appended since the last one."""
    with office.db.transaction() as conn:
        last = audit.latest_checkpoint(conn, office.office_id)
        size = audit.log_size(conn, office.office_id)
        if size and size - (last.tree_size if last else 0) >= office.checkpoint_every:
            audit.make_checkpoint(
                conn,
                office.office_id,
                office.checkpoint_signer(),
                checkpoint_file=office.checkpoint_file,
            )


def checkpoint_now(office: Office) -> audit.Checkpoint:
    """A signed checkpoint of the log as it is now (shutdown, demo, before an export)."""
    with office.db.transaction() as conn:
        return audit.make_checkpoint(
            conn,
            office.office_id,
            office.checkpoint_signer(),
            checkpoint_file=office.checkpoint_file,
        )


def verify_log(office: Office) -> audit.AuditReport:
    """Verify the office's own log against its own certificate and its checkpoint file.

    The anchor is the office's signing certificate chain (what signed the checkpoints), so a
    log re-signed with any other key is refused; uncovered entries are bounded by
    ``checkpoint_every``. Raises AuditVerificationError naming what is wrong.
    """
    if office.signer is None:
        raise audit.AuditAnchorError(
            "Không có khóa ký của cơ quan: không có gì để đối chiếu nhật ký",
            "the office has no signing key: nothing to check the log against",
            step="audit.verify",
        )
    return audit.verify_database(
        office.db,
        office.office_id,
        anchor=audit.OfficeCertificate(tuple(office.signer.certificates[:1])),
        checkpoint_file=office.checkpoint_file,
        max_uncovered=office.checkpoint_every,
    )


# -- the log as people read it (the web's audit page, an embedding tool) -------------------


@dataclass(frozen=True)
class LogLine:
    """One entry of the log: its number, when, what happened and the event's own data."""

    seq: int
    time: dt.datetime
    event: str
    data: dict[str, Any]

    @classmethod
    def of(cls, entry: audit.AuditEntry) -> LogLine:
        body = entry.data
        inner = body.get("data")
        return cls(entry.seq, entry.time, entry.event, inner if isinstance(inner, dict) else {})


@dataclass(frozen=True)
class LogPage:
    """A page of the log, newest first."""

    lines: list[LogLine]
    total: int
    page: int
    pages: int


def log_timeline(office: Office, *, page: int = 1, per_page: int = 50) -> LogPage:
    """The office's log newest first, ``per_page`` entries per page (page 1: the newest).

    Reads only the page's entries (by sequence number), however long the log is; a page
    past the end is the last page.
    """
    per_page = max(1, per_page)
    with office.db.read() as conn:
        total = audit.log_size(conn, office.office_id)
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        stop = total - (page - 1) * per_page
        start = max(0, stop - per_page)
        # Sequence numbers start at 0: entries [start, stop) are the page's.
        lines = [LogLine.of(e) for e in audit.entries(
            conn, office.office_id, start=start, stop=stop
        )]
    lines.reverse()
    return LogPage(lines, total, page, pages)


def _mentions(value: Any, wanted: str) -> bool:
    if isinstance(value, str):
        return value == wanted
    if isinstance(value, dict):
        return any(_mentions(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, wanted) for v in value)
    return False


def document_timeline(office: Office, document_id: str, *, limit: int = 1000) -> list[LogLine]:
    """Every entry that names ``document_id`` (its DocumentId anywhere in the event's data),
    oldest first, at most ``limit``.

    The log has no index by document: this reads it through once, testing the raw bytes
    before decoding, which for a commune's log (thousands of entries a year) takes well
    under a second.
    """
    needle = audit.canonical_json(document_id)
    found: list[LogLine] = []
    with office.db.read() as conn:
        for entry in audit.entries(conn, office.office_id):
            if needle not in entry.body:
                continue
            line = LogLine.of(entry)
            if _mentions(line.data, document_id):
                found.append(line)
                if len(found) >= limit:
                    break
    return found


@dataclass(frozen=True)
class LogStatus:
    """Whether the log verifies under the office's own certificate, in words."""

    #: The chain and every checkpoint verified.
    intact: bool
    #: The log could not be checked at all (no signing key: nothing to check against).
    unchecked: bool
    entries: int
    #: Where it breaks (the first bad entry), when it does and the verifier could tell.
    broken_at: int | None = None
    #: What is wrong, or why it could not be checked (Vietnamese, English).
    problem: tuple[str, str] | None = None
    step: str | None = None
    last_checkpoint_size: int | None = None
    last_checkpoint_time: str | None = None
    #: Entries after the last signed checkpoint (protected by the database alone).
    uncovered: int = 0
    signers: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()


def log_status(office: Office) -> LogStatus:
    """Verify the log (:func:`verify_log`) and say the outcome instead of raising it."""
    try:
        report = verify_log(office)
    except audit.AuditVerificationError as exc:
        with office.db.read() as conn:
            size = audit.log_size(conn, office.office_id)
            last = audit.latest_checkpoint(conn, office.office_id)
        return LogStatus(
            intact=False,
            unchecked=False,
            entries=size,
            broken_at=exc.seq,
            problem=(exc.vi, exc.en),
            step=exc.step,
            last_checkpoint_size=last.tree_size if last else None,
            last_checkpoint_time=last.time if last else None,
        )
    except EdocError as exc:
        with office.db.read() as conn:
            size = audit.log_size(conn, office.office_id)
        return LogStatus(
            intact=False, unchecked=True, entries=size, problem=(exc.vi, exc.en), step=exc.step
        )
    return LogStatus(
        intact=True,
        unchecked=False,
        entries=report.entries,
        last_checkpoint_size=report.last_checkpoint_size,
        last_checkpoint_time=report.last_checkpoint_time,
        uncovered=report.uncovered,
        signers=tuple(report.signers),
        limitations=tuple(report.limitations),
    )


def export_audit_log(office: Office, out: TextIO) -> int:
    """Write the whole log as ``edoc audit export`` does (JSON lines closed by a checkpoint
    signed now, also appended to the checkpoint file): what an inspector verifies offline
    with ``edoc audit verify --file``. Returns the number of entries written."""
    return audit.export_log(
        office.db,
        office.office_id,
        out,
        signer=office.checkpoint_signer(),
        checkpoint_file=office.checkpoint_file,
    )
