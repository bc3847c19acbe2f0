"""The receiver checks the document itself: the signatures of each PDF attachment.

The XML signature decides whether a document is accepted; the PDF's own signatures are
what the law cares about, so after a verified document is stored each PDF attachment is
checked under the office's trust roots (:mod:`..compose.pdfcheck`) and the verdicts are
stored beside it, with one audit event. The receiving step checks the message it already
holds in memory before its storing transaction and records the verdicts inside it (no
second read, parse or transaction per document); a large message (kept on its file) is
checked after it is stored, in a transaction of its own. A check that fails loses nothing
and delays no acknowledgement; :func:`check_pdfs` can be called again.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import audit, edxml, signing
from ..compose.pdfcheck import check_pdf, is_pdf
from ..edxml.large import read_file_lazily
from ..store import InboxVerdict
from ..store import inbox as inbox_store
from ..store import pdfchecks as pdf_store
from ..store.pdfchecks import PdfVerdictRow
from . import large
from ._office import Office

__all__ = [
    "PdfVerdictRow",
    "check_pdfs",
    "pdf_verdicts",
    "recheck_verdicts",
    "record_verdicts",
    "verdict_counts",
    "verdicts_of",
]

log = logging.getLogger("edoc.office")


def verdicts_of(office: Office, message: edxml.Message) -> list[PdfVerdictRow]:
    """The verdicts of a verified message's PDF attachments, computed in memory (no
    database work): what the receiving step records in its storing transaction. Empty for
    a status message or a document without PDF attachments. Never raises for a PDF's
    content; a checker failure becomes an "error" verdict (the document is stored anyway).
    """
    if not isinstance(message, edxml.Document):
        return []
    policy = office.trust()
    roots = policy.roots
    revocation = _revocation(policy)
    tsa_roots = policy.tsa_roots
    now = office.clock()
    verdicts: list[PdfVerdictRow] = []
    for position, attachment in enumerate(message.attachments):
        got = attachment.file
        if not is_pdf(got.name, got.content_type):
            continue
        checked = check_pdf(got.data, roots, at=now, tsa_roots=tsa_roots,
                            revocation=revocation)
        verdicts.append(
            PdfVerdictRow(
                position=position,
                name=got.name,
                verdict=checked.verdict.value,
                checked_at=now,
                details=checked.details(),
            )
        )
    return verdicts


def _revocation(policy: signing.TrustPolicy) -> signing.RevocationSource | None:
    """The office's revocation checker, as the XML signature's check uses it: a fresh
    cached answer first, else one bounded request per URL (short timeouts, a URL that
    failed is not asked again for a while), so a PDF's signers cost the receiving path at
    most what its XML signer did; None when the policy says "off"."""
    if policy.revocation is signing.RevocationMode.OFF:
        return None
    return policy.revocation_source


def record_verdicts(
    conn: Any, office: Office, arrived: list[tuple[int, list[PdfVerdictRow]]]
) -> None:
    """Store the verdicts of documents stored in this transaction (the receiving step's
    group: one statement), their first and only check; the documents' VERIFIED events
    tell them, so no event of their own."""
    if arrived:
        pdf_store.add_verdicts(conn, arrived)


def recheck_verdicts(
    conn: Any, office: Office, inbox_id: int, document_id: str, sender: str,
    verdicts: list[PdfVerdictRow],
) -> None:
    """Store ``verdicts`` of an earlier stored document, replacing any earlier check, with a
    PDF_CHECKED audit event, in the caller's transaction."""
    if not verdicts:
        return
    pdf_store.replace_verdicts(conn, inbox_id, verdicts)
    audit.append(
        conn,
        office.office_id,
        audit.AuditEvent.PDF_CHECKED,
        {
            "document_id": document_id,
            "from": sender,
            "files": [
                {"name": v.name, "verdict": v.verdict, "reason": v.reason} for v in verdicts
            ],
        },
    )


def check_pdfs(office: Office, inbox_id: int) -> list[PdfVerdictRow]:
    """Check the PDF attachments of the received document ``inbox_id`` again (or for the
    first time: a large message, checked after it was stored), store the verdicts
    (replacing an earlier check) with a PDF_CHECKED audit event, and return them.

    A rejected document, or one without PDF attachments, gets no verdict (an empty list).
    Raises what reading the store raises (StoreError); never raises for a PDF's content.
    """
    with office.db.read() as conn:
        row = inbox_store.incoming_by_id(conn, office.office_id, inbox_id)
        if row is None or row.verdict is not InboxVerdict.VERIFIED:
            return []
        blobs = large.blob_store(office) if row.message_blob is not None else None
        verified = inbox_store.verified_document(conn, row, blobs=blobs)
    if verified.content_file is not None:
        message = read_file_lazily(verified.content_file).message
    else:
        message = edxml.read(verified.content).message
    verdicts = verdicts_of(office, message)
    if verdicts:
        with office.db.transaction() as conn:
            recheck_verdicts(conn, office, inbox_id, row.document_id, row.sender, verdicts)
    return verdicts


def check_pdfs_quietly(office: Office, inbox_id: int) -> None:
    """:func:`check_pdfs` for the receiving step: a failure is logged, never raised (the
    document is stored and acknowledged whatever its PDFs say)."""
    try:
        check_pdfs(office, inbox_id)
    except Exception as exc:  # information only: nothing may stop the inbound pass here
        log.warning("PDF signatures of inbox item %s not checked: %s", inbox_id, exc)


def pdf_verdicts(office: Office, inbox_id: int) -> list[PdfVerdictRow]:
    """The stored verdicts of one received document (empty when none was checked)."""
    with office.db.read() as conn:
        return pdf_store.verdicts_of(conn, inbox_id)


def verdict_counts(office: Office) -> dict[str, int]:
    """How many received PDF attachments had each verdict (for ``edoc status``)."""
    with office.db.read() as conn:
        return pdf_store.verdict_counts(conn, office.office_id)
