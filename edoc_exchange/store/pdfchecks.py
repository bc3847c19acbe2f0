"""The receiver's verdicts on the signatures of each PDF attachment (``pdf_verdicts``).

A verdict is information kept beside a stored document, never part of it: it is written
after the document is stored, may be written again (a re-check replaces it), and the
document stays whatever its verdicts say.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from .db import as_utc
from .tables import InboxVerdict, inbox, pdf_verdicts

__all__ = [
    "PdfVerdictRow",
    "add_verdicts",
    "checked_inbox_ids",
    "replace_verdicts",
    "valid_between",
    "verdict_counts",
    "verdicts_of",
]

#: The verdict of a PDF whose signatures are all valid (the column's other values are
#: invalid, untrusted, unsigned and error; see compose.pdfcheck).
VALID = "valid"


@dataclass(frozen=True)
class PdfVerdictRow:
    """One PDF attachment's verdict, as stored."""

    position: int
    name: str
    verdict: str
    checked_at: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        found = self.details.get("reason")
        return str(found) if found else None

    @property
    def signatures(self) -> list[dict[str, Any]]:
        found = self.details.get("signatures")
        return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def replace_verdicts(
    conn: Connection, inbox_id: int, verdicts: Sequence[PdfVerdictRow]
) -> None:
    """Store the verdicts of one received document, replacing any earlier check."""
    conn.execute(delete(pdf_verdicts).where(pdf_verdicts.c.inbox_id == inbox_id))
    add_verdicts(conn, [(inbox_id, verdicts)])


def add_verdicts(
    conn: Connection, checked: Sequence[tuple[int, Sequence[PdfVerdictRow]]]
) -> None:
    """Store the first verdicts of documents just stored, in one statement."""
    rows = [
        {
            "inbox_id": inbox_id,
            "position": v.position,
            "name": v.name,
            "verdict": v.verdict,
            "details": json.dumps(v.details, ensure_ascii=False, sort_keys=True),
            "checked_at": v.checked_at,
        }
        for inbox_id, verdicts in checked
        for v in verdicts
    ]
    if rows:
        conn.execute(insert(pdf_verdicts), rows)


def verdicts_of(conn: Connection, inbox_id: int) -> list[PdfVerdictRow]:
    """The verdicts of one received document, by attachment position."""
    rows = conn.execute(
        select(pdf_verdicts)
        .where(pdf_verdicts.c.inbox_id == inbox_id)
        .order_by(pdf_verdicts.c.position)
    )
    return [_row(r) for r in rows]


def checked_inbox_ids(conn: Connection, inbox_ids: Iterable[int]) -> set[int]:
    """Which of ``inbox_ids`` have been checked (have at least one verdict)."""
    ids = list(inbox_ids)
    if not ids:
        return set()
    rows = conn.execute(
        select(pdf_verdicts.c.inbox_id).where(pdf_verdicts.c.inbox_id.in_(ids)).distinct()
    )
    return {int(r[0]) for r in rows}


def verdict_counts(conn: Connection, office_id: str) -> dict[str, int]:
    """How many PDF attachments of the office's received documents had each verdict."""
    rows = conn.execute(
        select(pdf_verdicts.c.verdict, func.count())
        .select_from(pdf_verdicts.join(inbox, inbox.c.id == pdf_verdicts.c.inbox_id))
        .where(inbox.c.office_id == office_id)
        .group_by(pdf_verdicts.c.verdict)
    )
    return {str(verdict): int(count) for verdict, count in rows}


def valid_between(
    conn: Connection, office_id: str, start: dt.datetime, end: dt.datetime
) -> set[int]:
    """Verified documents received in ``[start, end)`` that carry at least one PDF and whose
    PDFs all have a valid signature (their inbox ids)."""
    rows = conn.execute(
        select(pdf_verdicts.c.inbox_id, pdf_verdicts.c.verdict)
        .select_from(pdf_verdicts.join(inbox, inbox.c.id == pdf_verdicts.c.inbox_id))
        .where(
            inbox.c.office_id == office_id,
            inbox.c.verdict == InboxVerdict.VERIFIED,
            inbox.c.received_at >= start,
            inbox.c.received_at < end,
        )
    )
    seen: dict[int, bool] = {}
    for inbox_id, verdict in rows:
        seen[int(inbox_id)] = seen.get(int(inbox_id), True) and verdict == VALID
    return {inbox_id for inbox_id, all_valid in seen.items() if all_valid}


def _row(row: Any) -> PdfVerdictRow:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"reason": "details unreadable"}
    return PdfVerdictRow(
        position=int(row.position),
        name=str(row.name),
        verdict=str(row.verdict),
        checked_at=as_utc(row.checked_at),
        details=details if isinstance(details, dict) else {},
    )
