"""The clerk's count of documents handled on paper per quarter (``paper_counts``).

The e-governance report divides the documents exchanged electronically by those plus the
paper ones; only the clerk knows the paper ones, so they are entered by hand, one number
per office, quarter and direction. A new entry replaces the old one (the audit log keeps
every entry: the office writes the event in the same transaction).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from .db import as_utc
from .tables import paper_counts

__all__ = ["PaperCount", "counts_of", "set_count"]


@dataclass(frozen=True)
class PaperCount:
    """One entered count: documents received (``in``) or sent (``out``) on paper."""

    year: int
    quarter: int
    direction: str
    count: int
    entered_by: str | None
    entered_at: dt.datetime


def set_count(
    conn: Connection,
    *,
    office_id: str,
    year: int,
    quarter: int,
    direction: str,
    count: int,
    by: str | None,
    now: dt.datetime,
) -> None:
    """Enter (or replace) the count of one quarter and direction."""
    values = {"count": count, "entered_by": by, "entered_at": now}
    key = (
        paper_counts.c.office_id == office_id,
        paper_counts.c.year == year,
        paper_counts.c.quarter == quarter,
        paper_counts.c.direction == direction,
    )
    if conn.execute(update(paper_counts).where(*key).values(**values)).rowcount == 0:
        conn.execute(
            insert(paper_counts).values(
                office_id=office_id, year=year, quarter=quarter, direction=direction, **values
            )
        )


def counts_of(conn: Connection, office_id: str, years: list[int]) -> list[PaperCount]:
    """Every count the office entered for ``years``."""
    rows = conn.execute(
        select(paper_counts)
        .where(paper_counts.c.office_id == office_id, paper_counts.c.year.in_(years))
        .order_by(paper_counts.c.year, paper_counts.c.quarter, paper_counts.c.direction)
    )
    return [
        PaperCount(
            int(r.year), int(r.quarter), str(r.direction), int(r._mapping["count"]),
            r.entered_by, as_utc(r.entered_at),
        )
        for r in rows
    ]
