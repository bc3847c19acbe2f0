"""Signed checkpoints of the office's audit log, made as the log grows and at a stop."""

from __future__ import annotations

import logging

from .. import audit
from ._office import Office

__all__ = ["checkpoint_now", "maybe_checkpoint", "verify_log"]

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
