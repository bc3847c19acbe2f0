"""The clerk's actions on a received document: accept, assign, handle, finish or reject,
each recorded and answered to the sender.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .. import audit, edxml
from ..store import Database, InboxVerdict, StoreError
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ._office import Office
from .replies import queue_status

__all__ = ["DocumentDetails", "document_details", "mark"]

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


@dataclass(frozen=True)
class DocumentDetails:
    """What the office knows of one document: as received, as sent, its statuses."""

    document_id: str
    received: inbox_store.InboxRow | None
    sent: outbox_store.OutboxRow | None
    #: Each recipient of a sent document: organ_id, status_code, send/receive status.
    recipients: list[dict[str, Any]]
    #: Both directions' statuses, oldest first: direction, counterpart, status_code, ...
    history: list[dict[str, Any]]

    @property
    def verified(self) -> bool:
        """Whether the document was received and its signature verified."""
        return self.received is not None and self.received.verdict is InboxVerdict.VERIFIED

    @property
    def known(self) -> bool:
        """Whether the office received or sent this document at all."""
        return self.received is not None or self.sent is not None


def document_details(db: Database, office_id: str, document_id: str) -> DocumentDetails:
    """One document's state on both sides, for ``edoc status``, the demo and the web pages."""
    with db.engine.connect() as conn:
        received = inbox_store.find_incoming(conn, office_id, document_id=document_id)
        sent = outbox_store.find_document(conn, office_id, document_id)
        recipients = outbox_store.recipients_of(conn, sent.id) if sent is not None else []
        history = inbox_store.status_history_of(conn, office_id, document_id)
    return DocumentDetails(document_id, received, sent, recipients, history)
