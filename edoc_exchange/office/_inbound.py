"""From what the axis delivered to what the inbox stores: a verified record or a rejection.

This module is the office's verified path, the only maker of
:class:`~edoc_exchange.store.inbox.VerifiedRecord`. The store may not import ``signing``
(the import rules), so it cannot tell a VerifiedMessage from a look-alike; instead the
store hands out one seal per process, this module takes it when it is imported, and uses
it only on an object it checked, at runtime, to be a ``signing.VerifiedMessage``. The
record keeps what the VerifiedMessage proves (its signed message, the Signature, the
signer's certificate facts, the message's fields) and nothing else: never loose bytes
with a verdict beside them.

It also judges identity. A DocumentId (``OrganId,yyyy/MM/dd,Number/Notation``) names its
issuer; a verified document whose DocumentId names another office than its sender is a
finding: refused under a strict trust policy, stored flagged otherwise, and in both cases
kept under its sender's identity, where it cannot shadow the other office's document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import edxml, signing
from ..store import inbox as inbox_store
from ..store.blobs import StagedFile
from .replies import response_for

__all__ = [
    "IdentityFinding",
    "Judgement",
    "decide",
    "identity_finding",
    "issuer_of",
    "judge",
    "verified_record",
]

_SEAL = inbox_store.take_record_seal()

_STATUS_IN_DOCUMENTS = (
    "Thông điệp trạng thái nằm trong danh sách văn bản "
    "(a status message arrived in the document list)"
)


@dataclass(frozen=True)
class Judgement:
    """What to store for one delivered item, and whom to answer."""

    record: inbox_store.VerifiedRecord | inbox_store.RejectedRecord
    #: The document to answer with 01 or 02 (as verified, or as claimed); None when the
    #: bytes do not even say who sent them.
    answering: edxml.Document | None
    #: The verification result, for the audit event (None for a rejection).
    verified: signing.VerifiedMessage | None = None

    @property
    def fields(self) -> inbox_store.DocumentFields:
        """The fields stored: verified ones, or what a rejected item claims."""
        return self.record.fields


def issuer_of(document_id: str) -> str | None:
    """The issuer a DocumentId names (its OrganId part, whatever its scheme), or None."""
    issuer, sep, _rest = document_id.partition(",")
    return issuer.strip() if sep and issuer.strip() else None


@dataclass(frozen=True)
class IdentityFinding:
    """Why a verified document's identity is doubtful, in Vietnamese and English."""

    vi: str
    en: str

    def __str__(self) -> str:
        return f"{self.vi} ({self.en})"


def identity_finding(doc: edxml.Document) -> IdentityFinding | None:
    """Why ``doc``'s identity is doubtful, or None when its DocumentId names its own
    sender as the issuer."""
    sender = doc.sender.organ_id
    if not doc.document_id:
        return IdentityFinding(
            f"văn bản của {sender} không có mã văn bản (DocumentId)",
            f"the document from {sender} carries no DocumentId",
        )
    issuer = issuer_of(doc.document_id)
    if issuer is None:
        return IdentityFinding(
            f"mã văn bản '{doc.document_id}' không ghi cơ quan ban hành; nơi gửi là {sender}",
            f"DocumentId '{doc.document_id}' names no issuer; the sender is {sender}",
        )
    if issuer != sender:
        return IdentityFinding(
            f"mã văn bản {doc.document_id} ghi cơ quan ban hành {issuer}, không phải nơi "
            f"gửi {sender}",
            f"DocumentId {doc.document_id} names {issuer} as its issuer, not its sender {sender}",
        )
    return None


def _fields(doc: edxml.Document, fallback_id: str) -> inbox_store.DocumentFields:
    # The reply's fields as a reply would write them: the clerk answers from these later.
    answer = response_for(doc)
    date = answer.promulgation_date
    return inbox_store.DocumentFields(
        document_id=doc.document_id or fallback_id,
        sender=doc.sender.organ_id,
        business_doc_type=(doc.business.doc_type or 0) if doc.business else 0,
        subject=doc.subject,
        due_date=doc.due_date.isoformat() if doc.due_date else None,
        code=answer.code,
        promulgation_date=date.isoformat() if date else None,
        sender_name=doc.sender.organ_name,
        doc_type=doc.document_type.type_name if doc.document_type else None,
        priority=doc.other_info.priority if doc.other_info else None,
    )


def verified_record(
    verified: signing.VerifiedMessage, *, fallback_id: str, finding: str | None = None
) -> inbox_store.VerifiedRecord:
    """The inbox record of a verified document; the one place a VerifiedRecord is made.

    Raises UnverifiedRecordError for anything but a ``signing.VerifiedMessage`` carrying a
    document: type hints stop the honest mistake, this check the rest.
    """
    if not isinstance(verified, signing.VerifiedMessage) or not isinstance(
        verified.message, edxml.Document
    ):
        raise inbox_store.UnverifiedRecordError(
            f"Chỉ một văn bản đã xác thực (signing.VerifiedMessage) mới thành bản ghi đã xác "
            f"thực, không phải {type(verified).__name__}",
            "only a verified document (a signing.VerifiedMessage) becomes a verified record, "
            f"not a {type(verified).__name__}",
            step="inbox.verified",
        )
    if isinstance(verified, signing.LargeVerifiedMessage):
        # Verified on its file: the signed message is a file too, kept as a blob.
        signed_message = b""
        signed_file: StagedFile | None = StagedFile(
            verified.signed_file, verified.signed_size, verified.signed_sha256
        )
    else:
        signed_message, signed_file = signing.signed_message(verified), None
    return inbox_store.VerifiedRecord(
        _SEAL,
        fields=_fields(verified.message, fallback_id),
        signed_message=signed_message,
        signed_file=signed_file,
        signature_xml=verified.signature_xml,
        signer=inbox_store.SignerFacts(
            subject=verified.subject,
            issuer=verified.issuer,
            serial=verified.serial,
            fingerprint=verified.fingerprint,
        ),
        signing_time=verified.signing_time,
        identity_finding=finding,
    )


def _claimed(data: bytes) -> edxml.Document | edxml.StatusMessage | None:
    """Best-effort header of a message that failed verification, to answer it with 02."""
    try:
        return edxml.read(data).message
    except edxml.EdxmlReadError as exc:
        return exc.partial.message if exc.partial is not None else None


def rejection(
    evidence: bytes | StagedFile,
    reason: str,
    message: edxml.Document | edxml.StatusMessage | None,
    *,
    fallback_id: str,
    listed_sender: str | None,
) -> Judgement:
    """A rejection of what arrived (the bytes, or the file of a large message), answered
    from what it claims to be: its fields when it reads as a document."""
    doc = message if isinstance(message, edxml.Document) else None
    if doc is not None:
        fields = _fields(doc, fallback_id)
    else:
        sender = message.sender.organ_id if message is not None else (listed_sender or "unknown")
        fields = inbox_store.DocumentFields(document_id=fallback_id, sender=sender)
    if isinstance(evidence, StagedFile):
        record = inbox_store.RejectedRecord(b"", reason, fields, evidence_file=evidence)
    else:
        record = inbox_store.RejectedRecord(evidence, reason, fields)
    return Judgement(record, answering=doc)


def judge(
    data: bytes, policy: signing.TrustPolicy, *, axis_doc_id: str, listed_sender: str | None
) -> Judgement:
    """Verify ``data`` under ``policy`` and judge the identity it claims.

    Every outcome is a value: a verified record (its identity finding, if any, attached
    when the policy is not strict), or a rejection with its reason and the raw bytes.
    """
    fallback_id = f"axis:{axis_doc_id}"
    try:
        verified = signing.verify(data, policy)
    except (signing.SignatureError, edxml.EdxmlError) as exc:
        return rejection(
            data,
            exc.diagnostics(),
            _claimed(data),
            fallback_id=fallback_id,
            listed_sender=listed_sender,
        )
    return decide(
        verified,
        policy,
        fallback_id=fallback_id,
        reject=lambda reason, message: rejection(
            data, reason, message, fallback_id=fallback_id, listed_sender=None
        ),
    )


def decide(
    verified: signing.VerifiedMessage,
    policy: signing.TrustPolicy,
    *,
    fallback_id: str,
    reject: Callable[[str, edxml.Document | edxml.StatusMessage], Judgement],
) -> Judgement:
    """What a verified message becomes: a status message in the document list, or a
    DocumentId naming another issuer under a strict policy, is refused through ``reject``
    (with the reason and the message); anything else is a verified record, its identity
    finding attached. The same for a message verified in memory and one verified on its
    file."""
    message = verified.message
    if not isinstance(message, edxml.Document):
        return reject(_STATUS_IN_DOCUMENTS, message)
    finding = identity_finding(message)
    if finding is not None and policy.strict_identity:
        reason = (
            f"DocumentId: chữ ký hợp lệ nhưng {finding.vi}; chính sách tin cậy chặt không "
            f"nhận (the signature is valid but {finding.en}; the strict trust policy "
            "refuses it)"
        )
        return reject(reason, message)
    record = verified_record(
        verified, fallback_id=fallback_id, finding=None if finding is None else str(finding)
    )
    return Judgement(record, answering=message, verified=verified)
