"""The organisation directory: the axis's list of agencies, cached in the store.

Recipients are checked against it when a plan is composed; a province's directory changes
after reforms, so it is data that is refreshed, never constants in code.
"""

from __future__ import annotations

import json

from ..store import directory
from ._office import Office

__all__ = ["refresh_directory"]


def refresh_directory(office: Office) -> int:
    """Cache the axis's organisation directory; return how many organisations it holds."""
    entries = [
        directory.Organisation(
            a.organ_id,
            a.name,
            a.parent_id,
            json.dumps(a.model_dump(mode="json"), ensure_ascii=False),
        )
        for a in office.axis.agencies()
    ]
    with office.db.transaction() as conn:
        directory.replace_all(conn, entries, office.clock())
    return len(entries)
