"""A stable, JSON-ready view of a message: what ``edoc inspect --json`` prints.

The keys are a public contract (README lists them): every key is always present, with
``null`` when the message has no such field, so scripts never need to test for presence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .findings import Finding
from .models import (
    Attachment,
    Document,
    Message,
    OrganizationInfo,
    ResponseFor,
    StatusMessage,
)

__all__ = ["summarize"]


def _org(org: OrganizationInfo | None) -> dict[str, Any] | None:
    if org is None:
        return None
    return {"organ_id": org.organ_id, "organ_name": org.organ_name}


def _response_for(rf: ResponseFor | None) -> dict[str, Any] | None:
    if rf is None:
        return None
    return {
        "organ_id": rf.organ_id,
        "code": rf.code,
        "promulgation_date": rf.promulgation_date.isoformat() if rf.promulgation_date else None,
        "document_id": rf.document_id,
    }


def _attachment(att: Attachment) -> dict[str, Any]:
    # size, sha256 and content_type describe the file a clerk gets (what extract writes);
    # wire describes the bytes carried (a zip the SDK made, when packing is "zip").
    file = att.file
    return {
        "content_id": att.content_id,
        "name": att.name,
        "content_type": file.content_type,
        "description": att.description,
        "size": file.size,
        "sha256": file.sha256,
        "packing": "zip" if att.packed is not None else None,
        "packed_entry": att.packed.entry_name if att.packed is not None else None,
        "wire": {"content_type": att.content_type, "size": att.size, "sha256": att.sha256},
    }


def summarize(
    message: Message,
    *,
    warnings: Sequence[Finding] = (),
    errors: Sequence[Finding] = (),
) -> dict[str, Any]:
    """The stable summary of ``message`` (see README, "edoc inspect --json")."""
    doc = message if isinstance(message, Document) else None
    status = message if isinstance(message, StatusMessage) else None
    response_for = (
        status.response_for
        if status
        else (doc.response_for[0] if doc and doc.response_for else None)
    )
    code = doc.code if doc else None
    prom = doc.promulgation if doc else None
    dtype = doc.document_type if doc else None
    signer = doc.signer if doc else None
    other = doc.other_info if doc else None
    known = status.status if status else None
    return {
        "kind": "edoc" if doc else "status",
        "document_id": doc.document_id if doc else None,
        "from": _org(message.sender),
        "to": [_org(org) for org in doc.recipients] if doc else [],
        "code": {"number": code.number, "notation": code.notation} if code else None,
        "promulgation": {
            "place": prom.place,
            "date": prom.date.isoformat() if prom.date else None,
        }
        if prom
        else None,
        "document_type": {"type": dtype.type, "name": dtype.type_name} if dtype else None,
        "subject": doc.subject if doc else None,
        "signer": {
            "competence": signer.competence,
            "position": signer.position,
            "full_name": signer.full_name,
        }
        if signer
        else None,
        "due_date": doc.due_date.isoformat() if doc and doc.due_date else None,
        "priority": other.priority if other else None,
        "business_doc_type": doc.business.doc_type if doc and doc.business else None,
        "status_code": status.status_code if status else None,
        "status_name": known.vi if known else None,
        "status_description": status.description if status else None,
        "timestamp": status.timestamp.isoformat() if status and status.timestamp else None,
        "response_for": _response_for(response_for),
        "trace": [
            {
                "organ_id": th.organ_id,
                "timestamp": th.timestamp.isoformat() if th.timestamp else None,
            }
            for th in (doc.trace if doc else [])
        ],
        "attachments": [_attachment(att) for att in (doc.attachments if doc else [])],
        "signature": {
            "present": message.signature is not None,
            "legacy": message.signature_is_legacy,
        },
        "warnings": [f.to_json() for f in warnings],
        "errors": [f.to_json() for f in errors],
    }
