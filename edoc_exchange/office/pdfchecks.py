"""The receiver checks the document itself: the signatures of each PDF attachment.

The XML signature decides whether a document is accepted; the PDF's own signatures are
what the law cares about, so after a verified document is stored each PDF attachment is
checked under the office's trust roots (:mod:`..compose.pdfcheck`) and the verdicts are
stored beside it, with one audit event. This runs after the storing transaction, in its
own: a failure here loses nothing and delays no acknowledgement; the document simply has
no verdict yet, and :func:`check_pdfs` can be called again.
"""

from __future__ import annotations

import logging

from .. import audit, edxml
from ..compose.pdfcheck import check_pdf, is_pdf
from ..edxml.large import read_file_lazily
from ..store import InboxVerdict
from ..store import inbox as inbox_store
from ..store import pdfchecks as pdf_store
from ..store.pdfchecks import PdfVerdictRow
from . import large
from ._office import Office

__all__ = ["PdfVerdictRow", "check_pdfs", "pdf_verdicts", "verdict_counts"]

log = logging.getLogger("edoc.office")


def check_pdfs(office: Office, inbox_id: int) -> list[PdfVerdictRow]:
    """Check the PDF attachments of the received document ``inbox_id``, store the verdicts
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
    if not isinstance(message, edxml.Document):
        return []
    roots = office.trust().roots
    now = office.clock()
    verdicts: list[PdfVerdictRow] = []
    for position, attachment in enumerate(message.attachments):
        got = attachment.file
        if not is_pdf(got.name, got.content_type):
            continue
        checked = check_pdf(got.data, roots, at=now)
        verdicts.append(
            PdfVerdictRow(
                position=position,
                name=got.name,
                verdict=checked.verdict.value,
                checked_at=now,
                details=checked.details(),
            )
        )
    if not verdicts:
        return []
    with office.db.transaction() as conn:
        pdf_store.replace_verdicts(conn, inbox_id, verdicts)
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.PDF_CHECKED,
            {
                "document_id": row.document_id,
                "from": row.sender,
                "files": [
                    {"name": v.name, "verdict": v.verdict, "reason": v.reason} for v in verdicts
                ],
            },
        )
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
