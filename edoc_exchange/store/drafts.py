"""Drafts of outgoing documents and their files: the SQL behind ``office.outgoing``.

A draft moves draft → submitted → approved → issued (a leader may send a submitted or
approved one back to draft). Every move is a compare-and-set guarded by the state the
caller read (``WHERE state IN (...)``): two people acting at once cannot both move it, and
the loser learns it from the row count, as the outbox's transitions do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from .db import as_utc
from .tables import DraftState, draft_files, drafts

__all__ = [
    "DraftFileRow",
    "DraftRow",
    "NewFile",
    "add_draft",
    "count_by_state",
    "file_data",
    "files_of",
    "get",
    "list_drafts",
    "move",
    "replace_files",
    "set_fields",
]


@dataclass(frozen=True, slots=True)
class NewFile:
    """A checked file to store with a draft (position 0 is the main document)."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DraftFileRow:
    """A stored file of a draft, without its bytes (lists and pages never load them)."""

    draft_id: int
    position: int
    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class DraftRow:
    """One draft as stored; ``fields`` is the form's content (type, subject, ...)."""

    id: int
    office_id: str
    state: DraftState
    fields: dict[str, Any]
    created_by: int
    approved_by: int | None
    approved_at: dt.datetime | None
    document_id: str | None
    outbox_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> DraftRow:
        return cls(
            id=int(row.id),
            office_id=row.office_id,
            state=DraftState(row.state),
            fields=json.loads(row.fields),
            created_by=int(row.created_by),
            approved_by=int(row.approved_by) if row.approved_by is not None else None,
            approved_at=as_utc(row.approved_at) if row.approved_at is not None else None,
            document_id=row.document_id,
            outbox_id=int(row.outbox_id) if row.outbox_id is not None else None,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
        )


def _fields_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def _insert_files(conn: Connection, draft_id: int, files: Sequence[NewFile], start: int) -> None:
    for offset, file in enumerate(files):
        conn.execute(
            insert(draft_files).values(
                draft_id=draft_id,
                position=start + offset,
                name=file.name,
                content_type=file.content_type,
                size=len(file.data),
                sha256=hashlib.sha256(file.data).hexdigest(),
                data=file.data,
            )
        )


def add_draft(
    conn: Connection,
    *,
    office_id: str,
    fields: dict[str, Any],
    created_by: int,
    files: Sequence[NewFile],
    now: dt.datetime,
) -> int:
    """Store a new draft (state ``draft``) with its files, in order; return its id."""
    draft_id = conn.execute(
        insert(drafts)
        .values(
            office_id=office_id,
            state=DraftState.DRAFT,
            fields=_fields_json(fields),
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        .returning(drafts.c.id)
    ).scalar_one()
    _insert_files(conn, int(draft_id), files, 0)
    return int(draft_id)


def get(conn: Connection, office_id: str, draft_id: int) -> DraftRow | None:
    """One draft of ``office_id`` (None for another office's or a missing one)."""
    row = conn.execute(
        select(drafts).where(drafts.c.id == draft_id, drafts.c.office_id == office_id)
    ).one_or_none()
    return DraftRow.from_row(row) if row is not None else None


def list_drafts(
    conn: Connection,
    office_id: str,
    *,
    states: Collection[DraftState] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[DraftRow]:
    """The office's drafts (of ``states``, when given), the latest changed first."""
    query = select(drafts).where(drafts.c.office_id == office_id)
    if states:
        query = query.where(drafts.c.state.in_(list(states)))
    rows = conn.execute(
        query.order_by(drafts.c.updated_at.desc(), drafts.c.id.desc()).limit(limit).offset(offset)
    )
    return [DraftRow.from_row(row) for row in rows]


def count_by_state(conn: Connection, office_id: str) -> dict[DraftState, int]:
    """How many drafts of the office are in each state (the list's tabs)."""
    counts = dict.fromkeys(DraftState, 0)
    for state, count in conn.execute(
        select(drafts.c.state, func.count())
        .where(drafts.c.office_id == office_id)
        .group_by(drafts.c.state)
    ):
        counts[DraftState(state)] = int(count)
    return counts


def files_of(conn: Connection, draft_id: int) -> list[DraftFileRow]:
    """A draft's files in order (main document first), without their bytes."""
    rows = conn.execute(
        select(
            draft_files.c.draft_id,
            draft_files.c.position,
            draft_files.c.name,
            draft_files.c.content_type,
            draft_files.c.size,
            draft_files.c.sha256,
        )
        .where(draft_files.c.draft_id == draft_id)
        .order_by(draft_files.c.position)
    )
    return [
        DraftFileRow(
            int(r.draft_id), int(r.position), r.name, r.content_type, int(r.size), r.sha256
        )
        for r in rows
    ]


def file_data(conn: Connection, draft_id: int, position: int) -> tuple[DraftFileRow, bytes] | None:
    """One file of a draft with its bytes, or None."""
    row = conn.execute(
        select(draft_files).where(
            draft_files.c.draft_id == draft_id, draft_files.c.position == position
        )
    ).one_or_none()
    if row is None:
        return None
    meta = DraftFileRow(
        int(row.draft_id), int(row.position), row.name, row.content_type, int(row.size), row.sha256
    )
    return meta, bytes(row.data)


def move(
    conn: Connection,
    draft_id: int,
    *,
    office_id: str,
    allowed_from: Collection[DraftState],
    to: DraftState,
    now: dt.datetime,
    **values: Any,
) -> bool:
    """Move a draft to ``to`` if it is still in one of ``allowed_from`` (with ``values``:
    approved_by, document_id, ...); False when it was not (someone moved it first)."""
    if "fields" in values:
        values["fields"] = _fields_json(values["fields"])
    result = conn.execute(
        update(drafts)
        .where(
            drafts.c.id == draft_id,
            drafts.c.office_id == office_id,
            drafts.c.state.in_(list(allowed_from)),
        )
        .values(state=to, updated_at=now, **values)
    )
    return bool(result.rowcount == 1)


def set_fields(
    conn: Connection,
    draft_id: int,
    *,
    office_id: str,
    fields: dict[str, Any],
    allowed_in: Collection[DraftState],
    now: dt.datetime,
) -> bool:
    """Replace a draft's fields if it is in one of ``allowed_in``; False when it is not."""
    result = conn.execute(
        update(drafts)
        .where(
            drafts.c.id == draft_id,
            drafts.c.office_id == office_id,
            drafts.c.state.in_(list(allowed_in)),
        )
        .values(fields=_fields_json(fields), updated_at=now)
    )
    return bool(result.rowcount == 1)


def replace_files(
    conn: Connection,
    draft_id: int,
    *,
    main: NewFile | None,
    attachments: Sequence[NewFile] | None,
) -> None:
    """Replace the main document and/or the attachments (None: keep what is stored).

    Call it in the transaction that checked the draft's state (:func:`set_fields`).
    """
    if main is not None:
        conn.execute(
            delete(draft_files).where(
                draft_files.c.draft_id == draft_id, draft_files.c.position == 0
            )
        )
        _insert_files(conn, draft_id, [main], 0)
    if attachments is not None:
        conn.execute(
            delete(draft_files).where(
                draft_files.c.draft_id == draft_id, draft_files.c.position > 0
            )
        )
        _insert_files(conn, draft_id, attachments, 1)
