"""The tamper-evident audit log: append (one function, used by every step), verify under a
trust anchor, export, prove. See :mod:`.log` for the entry format, :mod:`.verify` for what
is checked, :mod:`.anchor` for who may sign checkpoints and :mod:`.checkpoint_file` for the
copy of every checkpoint kept outside the database."""

from ._errors import (
    AuditAnchorError,
    AuditExportError,
    AuditVerificationError,
    CheckpointFileError,
    CheckpointRefusedError,
    Source,
    UncoveredEntriesError,
)
from .anchor import CheckpointAnchor, OfficeCertificate, TrustedRoots, UnsafeNoAnchor, load_anchor
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
    append,
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
    "AuditEntry",
    "AuditEvent",
    "AuditExportError",
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
    "Source",
    "TrustedRoots",
    "UnanchoredAuditWarning",
    "UncoveredEntriesError",
    "UnsafeNoAnchor",
    "append",
    "append_checkpoint",
    "canonical_json",
    "checkpoints",
    "entries",
    "export_log",
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
