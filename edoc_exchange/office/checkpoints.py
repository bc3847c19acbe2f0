"""Signed checkpoints of the office's audit log, made as the log grows and at a stop."""

from __future__ import annotations

import logging

from .. import audit
from ._office import Office

__all__ = ["checkpoint_now", "maybe_checkpoint"]

log = logging.getLogger("edoc.office")


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
