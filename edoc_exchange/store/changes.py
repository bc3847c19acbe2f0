"""A document's lifecycle as the store keeps it: ``document_changes`` (revision 0009).

A revoke, update or replace (BussinessDocType 1/2/3) and a take-back (status 13, answered
15/16) never change or delete the original outbox or inbox row: each is one row here that
names the document (its issuer and DocumentId), the message that did it, and the outcome.
The chain of a document is read from these rows alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from .db import as_utc
from .outbox import OutboxRow
from .tables import InboxVerdict, OutboxState, document_changes, inbox, outbox

__all__ = [
    "Change",
    "changes_of",
    "changes_to",
    "original_received",
    "original_sent",
    "record",
]

_C = document_changes.c


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that happened to a document after it was sent or received."""

    id: int
    office_id: str
    direction: str  #: out: this office did it to its own document; in: a peer did
    issuer: str  #: whose document it is (for an incoming change: its sender)
    document_id: str  #: the document changed
    change: str  #: revoked | updated | replaced | takeback
    by_document_id: str | None  #: the message that did it
    by_inbox_id: int | None
    by_outbox_id: int | None
    reason: str | None
    #: sent | applied | unknown-original | refused | asked | accepted
    outcome: str
    at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> Change:
        return cls(
            id=int(row.id),
            office_id=row.office_id,
            direction=row.direction,
            issuer=row.issuer,
            document_id=row.document_id,
            change=row.change,
            by_document_id=row.by_document_id,
            by_inbox_id=None if row.by_inbox_id is None else int(row.by_inbox_id),
            by_outbox_id=None if row.by_outbox_id is None else int(row.by_outbox_id),
            reason=row.reason,
            outcome=row.outcome,
            at=as_utc(row.at),
        )


def record(
    conn: Connection,
    *,
    office_id: str,
    direction: str,
    issuer: str,
    document_id: str,
    change: str,
    outcome: str,
    at: dt.datetime,
    by_document_id: str | None = None,
    by_inbox_id: int | None = None,
    by_outbox_id: int | None = None,
    reason: str | None = None,
) -> Change:
    """Add one change in the caller's transaction (the original row is not touched)."""
    made = Change(
        id=0,
        office_id=office_id,
        direction=direction,
        issuer=issuer,
        document_id=document_id,
        change=change,
        by_document_id=by_document_id,
        by_inbox_id=by_inbox_id,
        by_outbox_id=by_outbox_id,
        reason=reason,
        outcome=outcome,
        at=as_utc(at),
    )
    values = {f: getattr(made, f) for f in Change.__slots__ if f != "id"}
    key = conn.execute(insert(document_changes).values(**values)).inserted_primary_key
    assert key is not None
    return dataclasses.replace(made, id=int(key[0]))


def changes_to(
    conn: Connection, office_id: str, issuer: str, document_id: str, *, direction: str
) -> list[Change]:
    """What happened to one issuer's document, oldest first."""
    rows = conn.execute(
        select(document_changes)
        .where(
            _C.office_id == office_id,
            _C.issuer == issuer,
            _C.document_id == document_id,
            _C.direction == direction,
        )
        .order_by(_C.id)
    )
    return [Change.from_row(r) for r in rows]


def changes_of(conn: Connection, office_id: str, document_id: str) -> list[Change]:
    """Every change that names ``document_id``, as the document changed or as the message
    that changed another (a replacement names the document it replaces), oldest first."""
    rows = conn.execute(
        select(document_changes)
        .where(
            _C.office_id == office_id,
            or_(_C.document_id == document_id, _C.by_document_id == document_id),
        )
        .order_by(_C.id)
    )
    return [Change.from_row(r) for r in rows]


def original_sent(conn: Connection, office_id: str, document_id: str) -> OutboxRow | None:
    """The first document this office sent (the axis took it) with that DocumentId: the
    original, which a later revoke or update re-using the DocumentId never hides."""
    row = conn.execute(
        select(outbox)
        .where(
            outbox.c.office_id == office_id,
            outbox.c.document_id == document_id,
            outbox.c.kind == "edoc",
            outbox.c.state == OutboxState.SENT,
        )
        .order_by(outbox.c.id)
        .limit(1)
    ).one_or_none()
    return OutboxRow.from_row(row) if row is not None else None


def original_received(
    conn: Connection, office_id: str, sender: str, document_id: str
) -> int | None:
    """The inbox id of the verified document ``sender`` sent with that DocumentId (new, or
    a replacement that is a document of its own), or None when it never arrived."""
    found = conn.execute(
        select(inbox.c.id)
        .where(
            inbox.c.office_id == office_id,
            inbox.c.sender == sender,
            inbox.c.document_id == document_id,
            inbox.c.verdict == InboxVerdict.VERIFIED,
            inbox.c.business_doc_type.in_((0, 3)),
        )
        .order_by(inbox.c.id)
        .limit(1)
    ).scalar()
    return None if found is None else int(found)
