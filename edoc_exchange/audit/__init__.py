"""The tamper-evident audit log: append (a step's events in one flush, under the office's
head row), verify under a trust anchor, export, prove. See :mod:`.entry` for the entry
format, :mod:`.appending` for how events are written, :mod:`.verify` for what is checked,
:mod:`.anchor` for who may sign checkpoints and :mod:`.checkpoint_file` for the copy of
every checkpoint kept outside the database."""

from ._errors import (
    AuditAnchorError,
    AuditAppendError,
    AuditDataError,
    AuditExportError,
    AuditLogMissingError,
    AuditVerificationError,
    CheckpointFileError,
    CheckpointRefusedError,
    Source,
    UncoveredEntriesError,
)
from .anchor import CheckpointAnchor, OfficeCertificate, TrustedRoots, UnsafeNoAnchor, load_anchor
from .appending import Pending, append, batch, create_log, ensure_log, flush
from .archive import (
    EXPORT_FORMAT,
    InclusionProof,
    export_log,
    prove,
    verify_database,
    verify_export,
)
from .checkpoint_file import (
    FiledCheckpoints,
    append_checkpoint,
    last_filed_checkpoint,
    read_checkpoints,
)
from .log import (
    AuditEntry,
    AuditEvent,
    Checkpoint,
    CheckpointSigner,
    canonical_json,
    checkpoints,
    entries,
    last_event,
    latest_checkpoint,
    log_size,
    make_checkpoint,
)
from .verify import DEFAULT_MAX_UNCOVERED, AuditReport, UnanchoredAuditWarning, verify_records

__all__ = [
    "DEFAULT_MAX_UNCOVERED",
    "EXPORT_FORMAT",
    "AuditAnchorError",
    "AuditAppendError",
    "AuditDataError",
    "AuditEntry",
    "AuditEvent",
    "AuditExportError",
    "AuditLogMissingError",
    "AuditReport",
    "AuditVerificationError",
    "Checkpoint",
    "CheckpointAnchor",
    "CheckpointFileError",
    "CheckpointRefusedError",
    "CheckpointSigner",
    "FiledCheckpoints",
    "InclusionProof",
    "OfficeCertificate",
    "Pending",
    "Source",
    "TrustedRoots",
    "UnanchoredAuditWarning",
    "UncoveredEntriesError",
    "UnsafeNoAnchor",
    "append",
    "append_checkpoint",
    "batch",
    "canonical_json",
    "checkpoints",
    "create_log",
    "ensure_log",
    "entries",
    "export_log",
    "flush",
    "last_event",
    "last_filed_checkpoint",
    "latest_checkpoint",
    "load_anchor",
    "log_size",
    "make_checkpoint",
    "prove",
    "read_checkpoints",
    "verify_database",
    "verify_export",
    "verify_records",
]
