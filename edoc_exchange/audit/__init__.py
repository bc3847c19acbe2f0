"""The tamper-evident audit log: append (one function, used by every step), verify, export,
prove. See :mod:`.log` for the entry format and :mod:`.verify` for what is checked."""

from .archive import InclusionProof, export_log, prove, verify_database, verify_export
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
from .verify import AuditReport, AuditVerificationError, verify_records

__all__ = [
    "AuditEntry",
    "AuditEvent",
    "AuditReport",
    "AuditVerificationError",
    "Checkpoint",
    "CheckpointSigner",
    "InclusionProof",
    "append",
    "canonical_json",
    "checkpoints",
    "entries",
    "export_log",
    "last_event",
    "latest_checkpoint",
    "log_size",
    "make_checkpoint",
    "prove",
    "verify_database",
    "verify_export",
    "verify_records",
]
