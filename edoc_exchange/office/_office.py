"""The wired parts one office works with, and what a step reports.

An :class:`Office` holds the database, the axis client, the signer, the trust policy and
the clock; every step of :mod:`edoc_exchange.office` is a plain function of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from .. import audit, edxml, signing
from ..axis import (
    AxisClient,
)
from ..config import ConfigError
from ..store import Database, StoreError
from .metrics import Metrics
from .visible import VisibleSignatures

__all__ = ["FINAL_STATUSES", "FollowPolicy", "Office", "OfficeIdentity", "StepReport"]

log = logging.getLogger("edoc.office")


#: Recipient statuses after which a sent document is no longer followed (the vocabulary
#: is ``edxml.StatusCode``'s; this is its final codes as the outbox compares them).
FINAL_STATUSES = frozenset(code.value for code in edxml.StatusCode if code.final)


@dataclass(frozen=True)
class FollowPolicy:
    """How often the axis is asked how a sent document fares (``getSentEdocList``).

    Status messages are the protocol's push: each one that arrives updates its document at
    once. Polling is the safety net, per document: first ``first`` after sending, then
    twice as long each time up to ``cap``; once every recipient has answered with a status
    message the wait goes straight to ``cap``. A recipient that answered a final status
    (02, 06) is not asked about again, a document all of whose recipients did is not polled
    at all, and after ``horizon`` from sending polling stops (the clerk sees it, the audit
    log says so; statuses that arrive later are still recorded). At most ``per_pass``
    documents are polled in one pass, the longest due first.
    """

    first: dt.timedelta = dt.timedelta(minutes=1)
    cap: dt.timedelta = dt.timedelta(hours=6)
    horizon: dt.timedelta = dt.timedelta(days=30)
    per_pass: int = 100


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
        # The whole chain: a verifier under a trust policy needs the intermediates too.
        return b"".join(c.public_bytes(Encoding.PEM) for c in self._signer.certificates)

    def sign_bytes(self, data: bytes) -> bytes:
        return signing.sign_data(self._signer, data)


@dataclass
class Office:
    """The wired parts one office's daemon works with."""

    identity: OfficeIdentity
    db: Database
    #: The axis client; None for an office that only composes and queues (no ``[axis]``).
    client: AxisClient | None
    signer: signing.Signer | None
    #: Whose signatures incoming messages may carry; None for an office that only sends.
    policy: signing.TrustPolicy | None
    worker: str
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], dt.datetime] = _utcnow
    #: A claim or a "sending" row whose worker has not beaten for this long (or, without
    #: a worker row, whose own heartbeat is this old) is taken over.
    stale_after: dt.timedelta = dt.timedelta(minutes=5)
    #: This process's row in ``workers`` (the daemon registers one and beats it); None for
    #: one-shot commands, whose claims live by their own heartbeat.
    worker_id: int | None = None
    #: Set when the daemon is asked to stop: a step ends after the item in hand, so a stop
    #: takes seconds whatever the backlog.
    stop: threading.Event = field(default_factory=threading.Event)
    #: Backoff of the outbox after a transient failure: first delay, cap.
    retry_initial: dt.timedelta = dt.timedelta(seconds=30)
    retry_max: dt.timedelta = dt.timedelta(hours=1)
    #: Make a signed audit checkpoint after this many new entries.
    checkpoint_every: int = 100
    #: Every signed checkpoint is also appended here, outside the database.
    checkpoint_file: Path | None = None
    #: The office's daemons list the axis once per this interval between them (the
    #: inbound interval, a little less); zero: every pass lists (one process, tests).
    list_every: dt.timedelta = dt.timedelta(0)
    #: Where large messages are kept as files (``[store] blob_dir``); None: beside SQLite.
    blob_dir: Path | None = None
    #: How sent documents are followed at the axis (backoff, cap, horizon).
    follow: FollowPolicy = field(default_factory=FollowPolicy)
    #: The seal and the people who sign with their own keys (the two-step flow of
    #: Nghị định 30); None: documents carry the office's signature only.
    visible: VisibleSignatures | None = None
    #: Warn when a certificate the office depends on expires within this many days.
    expiry_warning_days: int = 30

    def __post_init__(self) -> None:
        # The office's audit log exists from the moment the office does: appending never
        # makes it (an unknown office id is an error, not a second log). One read when it
        # exists; if it cannot be written here (a read-only copy), appends say so later.
        try:
            audit.ensure_log(self.db, self.office_id)
        except StoreError as exc:
            log.warning("audit log of %s not set up: %s", self.office_id, exc)

    @property
    def office_id(self) -> str:
        return self.identity.organ_id

    @property
    def stopping(self) -> bool:
        """Whether a step should end after its current item."""
        return self.stop.is_set()

    @property
    def axis(self) -> AxisClient:
        """The axis client; a door that talks to the axis without ``[axis]`` is refused."""
        if self.client is None:
            raise ConfigError(
                "Chưa cấu hình [axis] (trục liên thông): không gửi nhận được",
                "no [axis] section (the interconnection axis): nothing can be sent or received",
                step="config.axis",
            )
        return self.client

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
    #: The pass ended early because the daemon is stopping; the rest waits for the next run.
    interrupted: bool = False
