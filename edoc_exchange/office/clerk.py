"""The clerk's actions on a received document: accept, assign, handle, finish or reject,
each recorded and answered to the sender.
"""

from __future__ import annotations

import logging

from .. import audit, edxml
from ..store import StoreError
from ..store import inbox as inbox_store
from ._office import Office
from .replies import queue_status

__all__ = ["mark"]

log = logging.getLogger("edoc.office")


def mark(
    office: Office, document_id: str, code: str, note: str | None = None
) -> inbox_store.InboxRow:
    """The clerk moves a received document to ``code`` and the sender is told.

    Raises StoreError when no such document was received or the move is not allowed.
    """
    now = office.clock()
    with office.db.transaction() as conn:
        row = inbox_store.find_incoming(conn, office.office_id, document_id=document_id)
        if row is None:
            raise StoreError(
                f"Không có văn bản đến nào mang mã {document_id}",
                f"no received document has DocumentId {document_id}",
                step="mark",
            )
        updated = inbox_store.set_clerk_state(conn, row, code, now)
        doc = edxml.read(row.message).message
        assert isinstance(doc, edxml.Document)
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.CLERK_ACTION,
            {
                "document_id": document_id,
                "from_state": row.clerk_state,
                "to_state": code,
                "note": note,
                "staff": office.identity.staff,
            },
        )
        queue_status(conn, office, doc, code, note)
    return updated
