"""The organisation directory cache: what the axis says exists, refreshed by the daemon."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .tables import organisations

__all__ = ["Organisation", "names", "parent_of", "replace_all"]


@dataclass(frozen=True, slots=True)
class Organisation:
    """One directory entry; ``extra`` is the JSON of whatever else the axis said."""

    organ_id: str
    name: str
    parent_id: str | None
    extra: str


def replace_all(conn: Connection, entries: Sequence[Organisation], now: dt.datetime) -> None:
    """Make the cache hold exactly ``entries``.

    Rows are upserted (several daemons of a province may refresh at once) and organisations
    no longer listed are removed; an empty list (an axis that answered nothing) keeps the
    cache as it was.
    """
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for entry in entries:
        stmt = make(organisations).values(
            organ_id=entry.organ_id,
            name=entry.name,
            parent_id=entry.parent_id,
            extra=entry.extra,
            refreshed_at=now,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[organisations.c.organ_id],
                set_={k: stmt.excluded[k] for k in ("name", "parent_id", "extra", "refreshed_at")},
            )
        )
    if entries:
        conn.execute(
            delete(organisations).where(
                organisations.c.organ_id.not_in([e.organ_id for e in entries])
            )
        )


def names(conn: Connection) -> dict[str, str]:
    """OrganId -> name of every organisation in the cache."""
    return {row.organ_id: row.name for row in conn.execute(select(organisations))}


def parent_of(conn: Connection, organ_id: str) -> tuple[str, str] | None:
    """(OrganId, name) of the organisation's parent body in the cache, or None."""
    row = conn.execute(
        select(organisations.c.parent_id).where(organisations.c.organ_id == organ_id)
    ).one_or_none()
    if row is None or not row.parent_id:
        return None
    parent = conn.execute(
        select(organisations.c.name).where(organisations.c.organ_id == row.parent_id)
    ).one_or_none()
    return (str(row.parent_id), str(parent.name) if parent is not None else str(row.parent_id))
