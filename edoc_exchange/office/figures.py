"""The office's standing figures: what the daemon's metrics and health report show.

Read through store queries, so that the daemon (and the coming web pages) never touch a
table themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import edxml
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ._office import Office

__all__ = ["Figures", "figures"]


@dataclass(frozen=True)
class Figures:
    """Outbox rows by state, and received documents the clerk has not accepted yet."""

    outbox: dict[str, int]
    inbox_waiting: int


def figures(office: Office) -> Figures:
    """The office's figures now."""
    with office.db.engine.connect() as conn:
        return Figures(
            outbox=outbox_store.queue_depths(conn, office.office_id),
            inbox_waiting=inbox_store.waiting_count(
                conn, office.office_id, state=edxml.StatusCode.ARRIVED
            ),
        )
