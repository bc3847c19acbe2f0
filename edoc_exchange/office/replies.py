"""Status messages this office sends back: built from the document they answer, queued in
the caller's transaction with their audit event.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from .. import audit, edxml
from ..store import outbox as outbox_store
from ._office import STATUS_TEXT, Office

__all__ = ["queue_status", "row_sha", "status_message"]

log = logging.getLogger("edoc.office")


def _response_for(doc: edxml.Document) -> edxml.ResponseFor:
    code = doc.code
    number = code.number if code and code.number else ""
    notation = code.notation if code and code.notation else ""
    return edxml.ResponseFor(
        organ_id=doc.sender.organ_id,
        code=f"{number}/{notation}",
        promulgation_date=doc.promulgation.date if doc.promulgation else None,
        document_id=doc.document_id,
    )


def status_message(
    office: Office, doc: edxml.Document, code: str, note: str | None = None
) -> edxml.StatusMessage:
    """The status message answering ``doc`` with ``code`` (and the clerk's note)."""
    description = STATUS_TEXT.get(code, code)
    if note:
        description = f"{description}: {note}"
    staff = None
    if office.identity.staff or office.identity.department:
        staff = edxml.StaffInfo(staff=office.identity.staff, department=office.identity.department)
    return edxml.StatusMessage(
        sender=office.identity.organization(),
        response_for=_response_for(doc),
        staff_info=staff,
        status_code=code,
        description=description[:500],
        timestamp=office.clock(),
    )


def queue_status(
    conn: Any, office: Office, doc: edxml.Document, code: str, note: str | None
) -> int | None:
    """Queue the status reply to ``doc``'s sender in the caller's transaction."""
    try:
        data = edxml.write(status_message(office, doc, code, note))
    except edxml.EdxmlWriteError as exc:
        # A document too malformed to answer strictly (no DocumentId, say): record why.
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.SEND_FAILED,
            {
                "kind": "status",
                "status_code": code,
                "document_id": doc.document_id,
                "reason": exc.en,
            },
        )
        return None
    row_id, new = outbox_store.enqueue(
        conn,
        office_id=office.office_id,
        kind="status",
        document_id=doc.document_id or "",
        status_code=code,
        message=data,
        recipients=[doc.sender.organ_id],
        signed=False,
        now=office.clock(),
    )
    if new:
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.QUEUED,
            {
                "outbox_id": row_id,
                "kind": "status",
                "status_code": code,
                "document_id": doc.document_id,
                "to": [doc.sender.organ_id],
            },
        )
    return row_id


def row_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
