"""The clerk's actions on a received document: accept, assign, handle, finish or reject,
each recorded and answered to the sender.

The clerk works on the verified projection of a document (the fields the inbox stored from
the verified message), never on bytes read again; the workflow is ``edxml.StatusCode``'s
one transition table, and the store's guarded write refuses any other move. A DocumentId
names a document of its issuer, yet several senders may have used one: the clerk means
the verified one, of the issuer the DocumentId names, unless a sender is given.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from .. import audit, edxml, signing
from ..store import Database, InboxVerdict, StoreError
from ..store import changes as changes_store
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ..store import pdfchecks as pdf_store
from ._inbound import issuer_of
from ._office import Office
from .replies import queue_status

__all__ = ["DocumentDetails", "document_details", "mark", "move", "received_document"]

log = logging.getLogger("edoc.office")


def _pick(
    rows: list[inbox_store.InboxRow], document_id: str, sender: str | None, step: str
) -> inbox_store.InboxRow | None:
    """The row a clerk means among the items carrying one DocumentId (oldest first)."""
    if sender is not None:
        rows = [r for r in rows if r.sender == sender]
    # A rejected item proves nothing about who sent it: it never hides a verified one.
    pool = [r for r in rows if r.verified] or rows
    latest = {r.sender: r for r in pool}  # an update re-uses the DocumentId: the latest
    if len(latest) <= 1:
        return next(iter(latest.values()), None)
    issuer = issuer_of(document_id)
    if issuer is not None and issuer in latest:
        return latest[issuer]
    senders = ", ".join(sorted(latest))
    raise StoreError(
        f"Có nhiều văn bản đến mang mã {document_id} (từ {senders}); chọn nơi gửi (--from)",
        f"several received documents carry DocumentId {document_id} (from {senders}); "
        "name the sender (--from)",
        step=step,
    )


def received_document(
    conn: Any, office_id: str, document_id: str, *, sender: str | None = None, step: str
) -> inbox_store.InboxRow:
    """The received item a clerk means by ``document_id`` (and ``sender``, when given).

    Raises StoreError when there is none, or when several senders' documents carry the
    DocumentId and none of them is the issuer it names.
    """
    found = _pick(
        inbox_store.incoming_with_document_id(conn, office_id, document_id),
        document_id,
        sender,
        step,
    )
    if found is None:
        sent_by = f" từ {sender}" if sender else ""
        from_ = f" from {sender}" if sender else ""
        raise StoreError(
            f"Không có văn bản đến nào mang mã {document_id}{sent_by}",
            f"no received document has DocumentId {document_id}{from_}",
            step=step,
        )
    return found


def _answering(document: inbox_store.VerifiedDocument) -> edxml.ResponseFor:
    """What a reply answers, from the stored fields of the verified message."""
    fields = document.fields
    date = fields.promulgation_date
    return edxml.ResponseFor(
        organ_id=fields.sender,
        code=fields.code,
        promulgation_date=dt.date.fromisoformat(date) if date else None,
        document_id=fields.document_id,
    )


def _move(code: str, row: inbox_store.InboxRow) -> edxml.StatusCode:
    """The clerk's move to ``code``, checked against the one transition table."""
    target = edxml.StatusCode.known(code)
    moves = edxml.StatusCode.clerk_moves()
    if target is None or target not in moves:
        choices = ", ".join(c.value for c in moves)
        raise StoreError(
            f"Trạng thái {code} không hợp lệ; dùng {choices}",
            f"state {code} is not valid; use {choices}",
            step="mark",
        )
    if row.verdict is not InboxVerdict.VERIFIED:
        raise StoreError(
            "Văn bản này không qua kiểm tra chữ ký số nên không thể tiếp nhận hay xử lý "
            "(nơi gửi đã được báo 02)",
            "this document failed signature verification and cannot be accepted or handled "
            "(its sender was answered 02)",
            step="mark",
        )
    if row.clerk_state not in target.follows:
        current = edxml.StatusCode.known(row.clerk_state)
        vi_now, en_now = (current.vi, current.en) if current else ("?", "?")
        raise StoreError(
            f"Không thể chuyển văn bản từ trạng thái {row.clerk_state} sang {target.value} "
            f"({vi_now} → {target.vi})",
            f"cannot move the document from state {row.clerk_state} to {target.value} "
            f"({en_now} → {target.en})",
            step="mark",
        )
    return target


def mark(
    office: Office,
    document_id: str,
    code: str,
    note: str | None = None,
    *,
    sender: str | None = None,
    actor: str | None = None,
) -> inbox_store.InboxRow:
    """The clerk moves a received document to ``code`` and the sender is told.

    ``sender`` picks one sender's document when several used the DocumentId; ``actor``
    names who did it in the audit log (the signed-in user; the office's configured staff
    name when None, as for the command line). Raises StoreError when no such document was
    received, the choice is ambiguous, or the move is not allowed.
    """
    with office.db.transaction() as conn:
        row = received_document(conn, office.office_id, document_id, sender=sender, step="mark")
        return move(conn, office, row, code, note, actor=actor or office.identity.staff)


def move(
    conn: Any,
    office: Office,
    row: inbox_store.InboxRow,
    code: str,
    note: str | None,
    *,
    actor: str | None,
    details: dict[str, Any] | None = None,
) -> inbox_store.InboxRow:
    """Move ``row`` to ``code`` in the caller's transaction: the guarded write, the audit
    event naming ``actor`` (with ``details``), and the status queued for the sender.

    The one step behind :func:`mark` and the pages' actions, so that an action that does
    more (the register's number, an assignment) does it in the same transaction. Raises
    StoreError for a move the workflow does not allow; nothing is written then.
    """
    target = _move(code, row)
    document = inbox_store.verified_document(conn, row)
    updated = inbox_store.set_clerk_state(
        conn,
        row,
        target,
        office.clock(),
        allowed_from=target.follows,
        accepted=target is edxml.StatusCode.ACCEPTED,
    )
    audit.append(
        conn,
        office.office_id,
        audit.AuditEvent.CLERK_ACTION,
        {
            "document_id": row.document_id,
            "from": row.sender,
            "from_state": row.clerk_state,
            "to_state": target.value,
            "note": note,
            "staff": actor,
            **(details or {}),
        },
    )
    queue_status(conn, office, _answering(document), target, note)
    return updated


@dataclass(frozen=True)
class DocumentDetails:
    """What the office knows of one document: as received, as sent, its statuses."""

    document_id: str
    received: inbox_store.InboxRow | None
    sent: outbox_store.OutboxRow | None
    #: Each recipient of a sent document: organ_id, status_code, send/receive status.
    recipients: list[dict[str, Any]]
    #: This document's statuses both ways, oldest first: the replies to its sender and
    #: the answers of its recipients (direction, counterpart, status_code, ...).
    history: list[dict[str, Any]]
    #: Other senders' items carrying the same DocumentId: kept apart, never merged.
    also_received: tuple[inbox_store.InboxRow, ...] = ()
    #: Its lifecycle, oldest first: revoked, updated, replaced (or replacing another),
    #: taken back, each with the message that did it and the outcome.
    changes: tuple[changes_store.Change, ...] = ()
    #: What the receiver found of the received document's PDF signatures (by attachment).
    pdf_verdicts: tuple[pdf_store.PdfVerdictRow, ...] = ()
    #: The ds:Signature the verified document came with (its RFC 3161 timestamp inside).
    signature_xml: bytes | None = None

    def timestamp(self, tsa_roots: Sequence[x509.Certificate]) -> signing.TimestampVerdict | None:
        """The received signature's timestamp, judged under ``tsa_roots`` (None: none)."""
        if self.signature_xml is None:
            return None
        return signing.stored_timestamp(self.signature_xml, tsa_roots)

    @property
    def verified(self) -> bool:
        """Whether the document was received and its signature verified."""
        return self.received is not None and self.received.verdict is InboxVerdict.VERIFIED

    @property
    def known(self) -> bool:
        """Whether the office received or sent this document at all."""
        return self.received is not None or self.sent is not None


def document_details(
    db: Database, office_id: str, document_id: str, *, sender: str | None = None
) -> DocumentDetails:
    """One document's state on both sides, for ``edoc status``, the demo and the web pages.

    Raises StoreError when several senders' documents carry the DocumentId and none is
    the issuer it names (then ``sender`` says which).
    """
    with db.engine.connect() as conn:
        carrying = inbox_store.incoming_with_document_id(conn, office_id, document_id)
        received = _pick(carrying, document_id, sender, "status")
        sent = outbox_store.find_document(conn, office_id, document_id)
        recipients = outbox_store.recipients_of(conn, sent.id) if sent is not None else []
        history = inbox_store.status_history_of(
            conn,
            office_id,
            document_id,
            replies_to=received.sender if received is not None else None,
            answers_from=sent.recipients if sent is not None else (),
        )
        # A change of another sender's document (a refused revoke naming it) is not its.
        # An unknown original's changes are its issuer's (the DocumentId names it).
        issuers = {office_id, issuer_of(document_id)}
        if received is not None:
            issuers.add(received.sender)
        changes = tuple(
            c
            for c in changes_store.changes_of(conn, office_id, document_id)
            if c.issuer in issuers
        )
        verdicts = tuple(pdf_store.verdicts_of(conn, received.id)) if received is not None else ()
        signature_xml = (
            inbox_store.signature_xml_of(conn, received.id)
            if received is not None and received.verdict is InboxVerdict.VERIFIED
            else None
        )
    others = tuple(
        r for r in carrying if received is None or r.sender != received.sender
    )
    return DocumentDetails(
        document_id, received, sent, recipients, history, others, changes, verdicts,
        signature_xml,
    )
