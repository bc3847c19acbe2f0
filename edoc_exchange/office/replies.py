"""Status messages this office sends back: built from the document they answer (as
received, or as the inbox stored its verified fields), queued in the caller's transaction
with their audit event. Their text comes from ``edxml.StatusCode``, the one vocabulary.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from .. import audit, edxml
from ..store import outbox as outbox_store
from ._office import Office

__all__ = ["Answering", "queue_status", "response_for", "row_sha", "status_message"]

#: What a status answers: the document itself, or its ResponseFor (sender, code, date,
#: DocumentId) as the inbox keeps it.
Answering = edxml.Document | edxml.ResponseFor

log = logging.getLogger("edoc.office")


def response_for(doc: edxml.Document) -> edxml.ResponseFor:
    """The ResponseFor of a status answering ``doc``: its sender, code, date, DocumentId."""
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
    office: Office, answering: Answering, code: str, note: str | None = None
) -> edxml.StatusMessage:
    """The status message answering a document with ``code`` (and the clerk's note)."""
    code = str(code)
    known = edxml.StatusCode.known(code)
    description = known.description if known is not None else code
    if note:
        description = f"{description}: {note}"
    staff = None
    if office.identity.staff or office.identity.department:
        staff = edxml.StaffInfo(staff=office.identity.staff, department=office.identity.department)
    return edxml.StatusMessage(
        sender=office.identity.organization(),
        response_for=_target(answering),
        staff_info=staff,
        status_code=code,
        description=description[:500],
        timestamp=office.clock(),
    )


def _target(answering: Answering) -> edxml.ResponseFor:
    return response_for(answering) if isinstance(answering, edxml.Document) else answering


def queue_status(
    conn: Any, office: Office, answering: Answering, code: str, note: str | None
) -> int | None:
    """Queue the status reply to the answered document's sender in the caller's transaction."""
    code = str(code)  # a StatusCode is stored as its two digits, whatever the driver
    target = _target(answering)
    try:
        data = edxml.write(status_message(office, target, code, note))
    except edxml.EdxmlWriteError as exc:
        # A document too malformed to answer strictly (no DocumentId, say): record why.
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.SEND_FAILED,
            {
                "kind": "status",
                "status_code": code,
                "document_id": target.document_id,
                "reason": exc.en,
            },
        )
        return None
    row_id, new = outbox_store.enqueue(
        conn,
        office_id=office.office_id,
        kind="status",
        document_id=target.document_id or "",
        status_code=code,
        message=data,
        recipients=[target.organ_id or ""],
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
                "document_id": target.document_id,
                "to": [target.organ_id],
            },
        )
    return row_id


def row_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
