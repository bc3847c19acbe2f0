"""The inbox: claim an incoming item, store it (verified or rejected), move it through the
clerk's states, and keep the status history of both directions.

Trust is a type here. A verified document is stored only from a :class:`VerifiedRecord`,
which only the office's verified path can make (from a ``signing.VerifiedMessage``, under
the one :class:`RecordSeal`); a rejection is a :class:`RejectedRecord`, whose bytes are
kept flagged as raw evidence. There is no call that takes bytes and a verdict.

The axis delivers at least once, so an item is identified twice: by the axis DocId, and,
when verified, by its sender and DocumentId (with its business type: an update re-uses
the DocumentId). Storing an item that is already there is a no-op that says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, false, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .blobs import BlobStore, StagedFile
from .db import StoreError
from .search import fold
from .tables import InboxVerdict, MessageForm, inbox, inbox_claims, status_history
from .workers import dead_claim

__all__ = [
    "DocumentFields",
    "InboxRow",
    "RecordSeal",
    "RejectedRecord",
    "SignerFacts",
    "UnverifiedRecordError",
    "VerifiedDocument",
    "VerifiedRecord",
    "claim_incoming",
    "find_incoming",
    "incoming_by_id",
    "incoming_with_document_id",
    "received_between",
    "record_status",
    "release_claim",
    "release_claims",
    "search_text",
    "set_clerk_state",
    "status_history_of",
    "store_incoming_rejected",
    "store_incoming_verified",
    "take_record_seal",
    "unacknowledged",
    "unacknowledged_statuses",
    "verified_document",
    "waiting_count",
]


class UnverifiedRecordError(StoreError, TypeError):
    """A record offered to the inbox as verified that the verified path did not make."""


@dataclass(frozen=True, slots=True)
class DocumentFields:
    """The fields of a received document the office works with without reading it again.

    For a verified record they come from the verified message; for a rejected one they are
    what the message claims (best effort, to answer its sender), and vouch for nothing.
    """

    document_id: str
    sender: str
    business_doc_type: int = 0
    subject: str | None = None
    due_date: str | None = None  #: yyyy-mm-dd
    code: str | None = None  #: "Number/Notation", as a reply's ResponseFor writes it
    promulgation_date: str | None = None  #: yyyy-mm-dd
    #: For the lists and the search: the From's OrganName, DocumentType's TypeName and
    #: OtherInfo's Priority (a rejected item's are not kept: it proves no name).
    sender_name: str | None = None
    doc_type: str | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class SignerFacts:
    """What the signer's certificate says, kept beside the signed message."""

    subject: str
    issuer: str
    serial: str  #: hex
    fingerprint: str  #: SHA-256 of the certificate, hex


class RecordSeal:
    """The capability to make a :class:`VerifiedRecord`; one per process.

    The store cannot import ``signing`` (the import rules), so it cannot check for itself
    that a record came from a ``signing.VerifiedMessage``. The office's verified path can:
    it takes the seal once, when it is imported (:func:`take_record_seal`), keeps it
    private, and uses it only after checking that it holds a VerifiedMessage.
    """

    __slots__ = ()

    def __reduce__(self) -> Any:
        raise TypeError("the record seal cannot be copied or pickled")


_seal: list[RecordSeal] = []


def take_record_seal() -> RecordSeal:
    """Hand out the one seal of verified records; a second taker is refused.

    Raises :class:`UnverifiedRecordError` when the seal was taken already (by
    :mod:`edoc_exchange.office`, as soon as it is imported).
    """
    if _seal:
        raise UnverifiedRecordError(
            "Dấu niêm phong bản ghi đã xác thực đã được lớp nghiệp vụ nhận; chỉ "
            "edoc_exchange.office tạo bản ghi, từ một signing.VerifiedMessage",
            "the seal of verified records is taken (by edoc_exchange.office); records are "
            "made there, from a signing.VerifiedMessage",
            step="inbox.seal",
        )
    seal = object.__new__(RecordSeal)
    _seal.append(seal)
    return seal


#: Every VerifiedRecord made under the seal (and still alive): a record that bypassed the
#: constructor (``__new__``, ``copy``) is not in it, and the store refuses it.
_made: weakref.WeakSet[VerifiedRecord] = weakref.WeakSet()


class VerifiedRecord:
    """A received document whose signature was verified, as the inbox stores it.

    Made only from a ``signing.VerifiedMessage`` (by the office, under the seal): the signed
    message (signed bytes with the signature put back, nothing unsigned), the Signature as
    received, the signer's certificate facts and the message's fields. Immutable; copying,
    pickling or building one without the seal raises :class:`UnverifiedRecordError`.
    """

    __slots__ = (
        "__weakref__",
        "_fields",
        "_identity_finding",
        "_signature_xml",
        "_signed_file",
        "_signed_message",
        "_signer",
        "_signing_time",
    )

    _fields: DocumentFields
    _signed_message: bytes
    _signature_xml: bytes
    _signer: SignerFacts
    _signing_time: dt.datetime | None
    _identity_finding: str | None
    _signed_file: StagedFile | None

    def __init__(
        self,
        seal: RecordSeal,
        *,
        fields: DocumentFields,
        signed_message: bytes,
        signature_xml: bytes,
        signer: SignerFacts,
        signing_time: dt.datetime | None,
        identity_finding: str | None = None,
        signed_file: StagedFile | None = None,
    ) -> None:
        if not _seal or seal is not _seal[0]:
            raise _unverified("VerifiedRecord()")
        values = {
            "_signed_file": signed_file,
            "_fields": fields,
            "_signed_message": bytes(signed_message),
            "_signature_xml": bytes(signature_xml),
            "_signer": signer,
            "_signing_time": signing_time,
            "_identity_finding": identity_finding,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        _made.add(self)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a VerifiedRecord is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a VerifiedRecord is immutable")

    def __reduce__(self) -> Any:
        raise _unverified("a copy of a VerifiedRecord")

    def __repr__(self) -> str:
        return (
            f"VerifiedRecord(document_id={self.fields.document_id!r}, "
            f"sender={self.fields.sender!r}, signer={self.signer.subject!r})"
        )

    @property
    def fields(self) -> DocumentFields:
        """The verified message's fields (its From OrganId is the sender)."""
        return self._fields

    @property
    def signed_message(self) -> bytes:
        """The signed content with its signature: verifies again on its own."""
        return self._signed_message

    @property
    def signed_file(self) -> StagedFile | None:
        """A large message's signed content with its signature, in a file (its
        ``signed_message`` is then empty): kept as a blob by the store."""
        return self._signed_file

    @property
    def signature_xml(self) -> bytes:
        """The ds:Signature element as received."""
        return self._signature_xml

    @property
    def signer(self) -> SignerFacts:
        """The signer's certificate facts."""
        return self._signer

    @property
    def signing_time(self) -> dt.datetime | None:
        """The signing time the signed message carries."""
        return self._signing_time

    @property
    def identity_finding(self) -> str | None:
        """Why the document's identity is doubtful, when the policy let it in anyway."""
        return self._identity_finding


def _unverified(what: str) -> UnverifiedRecordError:
    return UnverifiedRecordError(
        f"Hộp thư đến không nhận {what}: bản ghi đã xác thực chỉ được tạo từ một "
        "signing.VerifiedMessage bởi edoc_exchange.office",
        f"the inbox does not take {what}: a verified record is made only from a "
        "signing.VerifiedMessage, by edoc_exchange.office",
        step="inbox.verified",
    )


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A received item that failed verification (or the trust policy), kept as evidence.

    ``evidence`` are the bytes exactly as they arrived, stored flagged as raw
    (:attr:`MessageForm.RAW`) and never handed out as content; ``fields`` are what the
    item claims, to answer its sender with status 02. Anyone may make one: a rejection
    grants nothing.
    """

    evidence: bytes
    reason: str
    fields: DocumentFields
    #: A large item's bytes as they arrived, in a file (``evidence`` is then empty): kept
    #: as a blob, flagged raw like any evidence.
    evidence_file: StagedFile | None = None


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One received item as stored, without its bytes (see :class:`VerifiedDocument`)."""

    id: int
    office_id: str
    axis_doc_id: str
    document_id: str
    business_doc_type: int
    sender: str
    subject: str | None
    due_date: str | None
    verdict: InboxVerdict
    reason: str | None
    clerk_state: str
    received_at: dt.datetime
    accepted_at: dt.datetime | None
    message_form: MessageForm
    code: str | None
    promulgation_date: str | None
    identity_finding: str | None
    #: SHA-256 of the blob holding the message, when it is kept outside the row.
    message_blob: str | None = None
    message_size: int | None = None
    sender_name: str | None = None
    doc_type: str | None = None
    priority: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> InboxRow:
        return cls(
            id=int(row.id),
            office_id=row.office_id,
            axis_doc_id=row.axis_doc_id,
            document_id=row.document_id,
            business_doc_type=int(row.business_doc_type),
            sender=row.sender,
            subject=row.subject,
            due_date=row.due_date,
            verdict=InboxVerdict(row.verdict),
            reason=row.reason,
            clerk_state=row.clerk_state,
            received_at=row.received_at,
            accepted_at=row.accepted_at,
            message_form=MessageForm(row.message_form),
            code=row.code,
            promulgation_date=row.promulgation_date,
            identity_finding=row.identity_finding,
            message_blob=row._mapping.get("message_blob"),
            message_size=row._mapping.get("message_size"),
            sender_name=row._mapping.get("sender_name"),
            doc_type=row._mapping.get("doc_type"),
            priority=row._mapping.get("priority"),
        )

    @property
    def verified(self) -> bool:
        """Whether the item's signature was verified (and its identity let in)."""
        return self.verdict is InboxVerdict.VERIFIED


@dataclass(frozen=True, slots=True)
class VerifiedDocument:
    """The verified projection of a received document: what the clerk's actions read.

    Only a verified row has one (:func:`verified_document`). ``content`` is the signed
    message (``content_form`` SIGNED), or, for a row stored before revision 0003, the bytes
    as they arrived and were verified then (RAW). For a large message kept as a blob,
    ``content`` is empty, ``content_blob`` its SHA-256 and ``content_file`` the blob's path
    when a :class:`BlobStore` was given (read it in chunks, or with
    ``edxml.large.extract_file``).
    """

    row: InboxRow
    content: bytes
    content_form: MessageForm
    signer: SignerFacts | None
    signing_time: dt.datetime | None
    content_file: Path | None = None
    content_blob: str | None = None

    @property
    def fields(self) -> DocumentFields:
        """The stored fields of the verified message."""
        r = self.row
        return DocumentFields(
            document_id=r.document_id,
            sender=r.sender,
            business_doc_type=r.business_doc_type,
            subject=r.subject,
            due_date=r.due_date,
            code=r.code,
            promulgation_date=r.promulgation_date,
            sender_name=r.sender_name,
            doc_type=r.doc_type,
            priority=r.priority,
        )


#: An inbox row without its bytes: what :class:`InboxRow` holds. Listing or finding rows
#: never reads the messages (a large one would be read whole for nothing).
_ROW = tuple(c for c in inbox.c if c.name not in ("message", "signature_xml"))


def signature_xml_of(conn: Connection, inbox_id: int) -> bytes | None:
    """The ds:Signature a verified row was received with (its timestamp shown again)."""
    value = conn.execute(
        select(inbox.c.signature_xml).where(inbox.c.id == inbox_id)
    ).scalar_one_or_none()
    return bytes(value) if value is not None else None


def claim_incoming(
    conn: Connection,
    *,
    office_id: str,
    axis_doc_id: str,
    worker: str,
    now: dt.datetime,
    stale_before: dt.datetime,
    worker_id: int | None = None,
) -> bool:
    """Claim an incoming item for ``worker``; False when another live worker holds it.

    A claim whose holder is gone (its worker stopped, or beat last before ``stale_before``;
    see :func:`.workers.dead_claim`) is taken over, as is one made under this worker's
    own name. ``worker_id`` is the worker row whose heartbeat keeps the claim alive.
    """
    try:
        with conn.begin_nested():
            conn.execute(
                insert(inbox_claims).values(
                    office_id=office_id,
                    axis_doc_id=axis_doc_id,
                    claimed_by=worker,
                    heartbeat_at=now,
                    worker_id=worker_id,
                )
            )
        return True
    except IntegrityError:
        pass
    taken = conn.execute(
        update(inbox_claims)
        .where(
            inbox_claims.c.office_id == office_id,
            inbox_claims.c.axis_doc_id == axis_doc_id,
            or_(inbox_claims.c.claimed_by == worker, dead_claim(inbox_claims, stale_before)),
        )
        .values(claimed_by=worker, heartbeat_at=now, worker_id=worker_id)
    )
    return taken.rowcount == 1


def release_claim(conn: Connection, *, office_id: str, axis_doc_id: str) -> bool:
    """Forget the claim (the item is stored and acknowledged, or given up for now).

    Returns whether there was a claim: of several workers finishing the same item, only
    the one that removes the claim records the acknowledgement.
    """
    result = conn.execute(
        delete(inbox_claims).where(
            inbox_claims.c.office_id == office_id, inbox_claims.c.axis_doc_id == axis_doc_id
        )
    )
    return result.rowcount == 1


def release_claims(conn: Connection, *, office_id: str, axis_doc_ids: Collection[str]) -> list[str]:
    """Forget several claims in one statement; return the axis DocIds that had one (see
    :func:`release_claim`: only these get their acknowledgement recorded)."""
    if not axis_doc_ids:
        return []
    result = conn.execute(_RELEASE_CLAIMS, {"p_office": office_id, "p_ids": list(axis_doc_ids)})
    return [str(doc_id) for doc_id in result.scalars()]


#: Built once: the daemon releases claims in every storing transaction.
_RELEASE_CLAIMS = (
    delete(inbox_claims)
    .where(
        inbox_claims.c.office_id == bindparam("p_office"),
        inbox_claims.c.axis_doc_id.in_(bindparam("p_ids", expanding=True)),
    )
    .returning(inbox_claims.c.axis_doc_id)
)


def _unfinished_claim(stale_before: dt.datetime, worker_id: int | None) -> Any:
    """A claim whose acknowledgement is to be recorded now: its holder is gone, or it is
    this worker's own from an earlier pass (a worker handles its items one at a time, so
    at the start of a pass none of its claims is in flight)."""
    dead = dead_claim(inbox_claims, stale_before)
    return dead if worker_id is None else or_(dead, inbox_claims.c.worker_id == worker_id)


def unacknowledged(
    conn: Connection,
    office_id: str,
    *,
    stale_before: dt.datetime,
    worker_id: int | None = None,
) -> list[InboxRow]:
    """Stored items still claimed by a worker that stopped before recording the acknowledgement.

    A worker keeps its claim from before the fetch until the acknowledgement is recorded;
    a stored item with a dead claim was perhaps acknowledged at the axis (and so is no
    longer listed there) by a worker that died before its audit event committed. With
    ``worker_id``, this worker's own leftover claims are included (an acknowledgement
    whose answer was lost).
    """
    rows = conn.execute(
        select(*_ROW)
        .join(
            inbox_claims,
            (inbox_claims.c.office_id == inbox.c.office_id)
            & (inbox_claims.c.axis_doc_id == inbox.c.axis_doc_id),
        )
        .where(inbox.c.office_id == office_id, _unfinished_claim(stale_before, worker_id))
        .order_by(inbox.c.id)
    )
    return [InboxRow.from_row(row) for row in rows]


def unacknowledged_statuses(
    conn: Connection,
    office_id: str,
    *,
    stale_before: dt.datetime,
    worker_id: int | None = None,
) -> list[tuple[str, str]]:
    """(axis DocId, DocumentId) of recorded incoming statuses whose acknowledgement a dead
    worker did not record (as :func:`unacknowledged`, for status messages)."""
    rows = conn.execute(
        select(status_history.c.axis_doc_id, status_history.c.document_id)
        .join(
            inbox_claims,
            (inbox_claims.c.office_id == status_history.c.office_id)
            & (inbox_claims.c.axis_doc_id == status_history.c.axis_doc_id),
        )
        .where(
            status_history.c.office_id == office_id,
            status_history.c.direction == "in",
            _unfinished_claim(stale_before, worker_id),
        )
        .order_by(status_history.c.id)
    )
    return [(str(r.axis_doc_id), str(r.document_id)) for r in rows]


def find_incoming(
    conn: Connection,
    office_id: str,
    *,
    axis_doc_id: str | None = None,
    document_id: str | None = None,
    sender: str | None = None,
    business_doc_type: int | None = None,
    verified_only: bool = False,
) -> InboxRow | None:
    """The latest stored item matching every criterion given (axis DocId, DocumentId,
    sender, business type), or None.

    A DocumentId alone may match the documents of several senders: the clerk's actions
    choose among them with :func:`incoming_with_document_id`.
    """
    query = select(*_ROW).where(inbox.c.office_id == office_id)
    if axis_doc_id is not None:
        query = query.where(inbox.c.axis_doc_id == axis_doc_id)
    if document_id is not None:
        query = query.where(inbox.c.document_id == document_id)
    if sender is not None:
        query = query.where(inbox.c.sender == sender)
    if business_doc_type is not None:
        query = query.where(inbox.c.business_doc_type == business_doc_type)
    if verified_only:
        query = query.where(inbox.c.verdict == InboxVerdict.VERIFIED)
    row = conn.execute(query.order_by(inbox.c.id.desc()).limit(1)).one_or_none()
    return InboxRow.from_row(row) if row is not None else None


def incoming_by_id(conn: Connection, office_id: str, inbox_id: int) -> InboxRow | None:
    """The stored item ``inbox_id`` of ``office_id``; None for another office's (or none)."""
    row = conn.execute(
        select(*_ROW).where(inbox.c.id == inbox_id, inbox.c.office_id == office_id)
    ).one_or_none()
    return InboxRow.from_row(row) if row is not None else None


def incoming_with_document_id(conn: Connection, office_id: str, document_id: str) -> list[InboxRow]:
    """Every stored item carrying ``document_id``, whoever sent it, oldest first."""
    rows = conn.execute(
        select(inbox)
        .where(inbox.c.office_id == office_id, inbox.c.document_id == document_id)
        .order_by(inbox.c.id)
    )
    return [InboxRow.from_row(row) for row in rows]


def store_incoming_verified(
    conn: Connection,
    record: VerifiedRecord,
    *,
    office_id: str,
    axis_doc_id: str,
    state: str,
    now: dt.datetime,
    blobs: BlobStore | None = None,
) -> tuple[InboxRow, bool]:
    """Store a verified document in clerk state ``state``; return (row, whether it is new).

    A large record (``record.signed_file``) is kept as a blob in ``blobs`` (required then),
    written before the row; the row keeps its hash and size.

    The document is identified by its axis DocId and by (sender, DocumentId, business
    type): either already stored makes this a no-op returning the stored row, so the
    caller can still acknowledge it. Another sender's document with the same DocumentId is
    a different document. Raises :class:`UnverifiedRecordError` for a record the verified
    path did not make (a runtime check: type hints alone are not enough).
    """
    if not isinstance(record, VerifiedRecord) or record not in _made:
        raise _unverified(f"{type(record).__name__}")
    fields = record.fields

    def existing() -> InboxRow | None:
        return find_incoming(conn, office_id, axis_doc_id=axis_doc_id) or find_incoming(
            conn,
            office_id,
            sender=fields.sender,
            document_id=fields.document_id,
            business_doc_type=fields.business_doc_type,
            verified_only=True,
        )

    return _insert(
        conn,
        existing,
        office_id=office_id,
        axis_doc_id=axis_doc_id,
        fields=fields,
        message=record.signed_message,
        staged=(record.signed_file, blobs),
        message_form=MessageForm.SIGNED,
        verdict=InboxVerdict.VERIFIED,
        state=state,
        now=now,
        signer_subject=record.signer.subject,
        signer_serial=record.signer.serial,
        signer_issuer=record.signer.issuer,
        signer_fingerprint=record.signer.fingerprint,
        # In UTC, as every stored time: SQLite keeps no zone, so a time stored with its
        # +07:00 would read back seven hours off.
        signing_time=_utc(record.signing_time),
        signature_xml=record.signature_xml,
        identity_finding=record.identity_finding,
    )


def store_incoming_rejected(
    conn: Connection,
    record: RejectedRecord,
    *,
    office_id: str,
    axis_doc_id: str,
    state: str,
    now: dt.datetime,
    blobs: BlobStore | None = None,
) -> tuple[InboxRow, bool]:
    """Store a rejected item as evidence, flagged raw; return (row, whether it is new).

    A large item (``record.evidence_file``) is kept as a blob in ``blobs`` (required then).

    Only its axis DocId identifies it: what a rejected item claims to be (its sender, its
    DocumentId) is unproven, so it never takes a document's identity, and the real document
    that arrives later is stored, answered and handed to the clerk.
    """
    if not isinstance(record, RejectedRecord):
        raise TypeError("store_incoming_rejected() takes a RejectedRecord")

    def existing() -> InboxRow | None:
        return find_incoming(conn, office_id, axis_doc_id=axis_doc_id)

    return _insert(
        conn,
        existing,
        office_id=office_id,
        axis_doc_id=axis_doc_id,
        # What a rejected item claims is kept to answer it, never shown as a name.
        fields=dataclasses.replace(record.fields, sender_name=None, doc_type=None, priority=None),
        message=record.evidence,
        staged=(record.evidence_file, blobs),
        message_form=MessageForm.RAW,
        verdict=InboxVerdict.REJECTED,
        state=state,
        now=now,
        reason=record.reason,
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if value is not None and value.tzinfo is not None else value


def search_text(fields: DocumentFields) -> str:
    """What the accent-free search looks in: subject, sender's name, số/ký hiệu and
    DocumentId, folded (see :func:`.search.fold`)."""
    parts = (fields.subject, fields.sender_name, fields.code, fields.document_id)
    return fold(" ".join(p for p in parts if p))


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """The inbox INSERT, built once per dialect (values come as parameters, so SQLAlchemy
    compiles it once and only binds after that)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return make(inbox).on_conflict_do_nothing().returning(*_ROW)


def _insert(
    conn: Connection,
    existing: Callable[[], InboxRow | None],
    *,
    office_id: str,
    axis_doc_id: str,
    fields: DocumentFields,
    message: bytes,
    staged: tuple[StagedFile | None, BlobStore | None],
    message_form: MessageForm,
    verdict: InboxVerdict,
    state: str,
    now: dt.datetime,
    **extra: Any,
) -> tuple[InboxRow, bool]:
    file, blobs = staged
    if file is not None:
        # A large message: its file is made durable before the row that names it, so look
        # for the stored one first (no orphan file for a duplicate).
        found = existing()
        if found is not None:
            return found, False
        if blobs is None:
            raise StoreError(
                "Văn bản lớn cần thư mục lưu trữ (BlobStore)",
                "a large message needs a blob store to be kept (blobs=...)",
                step="inbox.store",
            )
        blobs.put(file)
        message, sha256 = b"", file.sha256
        extra.update(message_blob=sha256, message_size=file.size)
    else:
        sha256 = hashlib.sha256(message).hexdigest()
        extra.update(message_size=len(message))
    # One statement when new (the common case): the insert gives the row back; a conflict
    # (the axis DocId, or a verified document's identity, already stored) inserts nothing.
    inserted = conn.execute(
        _insert_statement(conn.dialect.name),
        {
            "office_id": office_id,
            "axis_doc_id": axis_doc_id,
            "document_id": fields.document_id,
            "business_doc_type": fields.business_doc_type,
            "sender": fields.sender,
            "subject": fields.subject,
            "due_date": fields.due_date,
            "code": fields.code,
            "promulgation_date": fields.promulgation_date,
            "sender_name": fields.sender_name,
            "doc_type": fields.doc_type,
            "priority": fields.priority,
            "search_text": search_text(fields),
            "message": message,
            "message_form": message_form,
            "sha256": sha256,
            "verdict": verdict,
            "clerk_state": str(state),  # the code's text, never an enum's name
            "received_at": now,
            "state_changed_at": now,
            **extra,
        },
    ).one_or_none()
    if inserted is not None:
        return InboxRow.from_row(inserted), True
    found = existing()
    if found is None:
        raise StoreError(
            f"Không lưu được văn bản {axis_doc_id} mà cũng không thấy bản đã lưu",
            f"item {axis_doc_id} was neither stored nor found stored (a uniqueness conflict "
            "with no matching row)",
            step="store",
        )
    return found, False


def verified_document(
    conn: Connection, row: InboxRow, *, blobs: BlobStore | None = None
) -> VerifiedDocument:
    """The verified projection of a stored row; StoreError for a row that is not verified.

    A large row (kept as a blob) has empty ``content``; with ``blobs`` its
    ``content_file`` is checked to be there, whole (StoreError otherwise)."""
    if row.verdict is not InboxVerdict.VERIFIED:
        raise StoreError(
            f"Văn bản {row.document_id} không qua kiểm tra chữ ký số "
            f"({row.reason or row.verdict.value})",
            f"document {row.document_id} was not verified ({row.reason or row.verdict.value})",
            step="inbox.verified",
        )
    found = conn.execute(
        select(
            inbox.c.message,
            inbox.c.message_form,
            inbox.c.signer_subject,
            inbox.c.signer_issuer,
            inbox.c.signer_serial,
            inbox.c.signer_fingerprint,
            inbox.c.signing_time,
            inbox.c.message_blob,
            inbox.c.message_size,
        ).where(inbox.c.id == row.id)
    ).one()
    content_file = None
    if found.message_blob is not None and blobs is not None:
        blobs.open(found.message_blob, found.message_size).close()  # there, and whole
        content_file = blobs.path(found.message_blob)
    signer = None
    if found.signer_subject is not None:
        signer = SignerFacts(
            subject=found.signer_subject,
            issuer=found.signer_issuer or "",
            serial=found.signer_serial or "",
            fingerprint=found.signer_fingerprint or "",
        )
    return VerifiedDocument(
        row=row,
        content=bytes(found.message),
        content_form=MessageForm(found.message_form),
        signer=signer,
        signing_time=found.signing_time,
        content_file=content_file,
        content_blob=found.message_blob,
    )


def set_clerk_state(
    conn: Connection,
    row: InboxRow,
    new_state: str,
    now: dt.datetime,
    *,
    allowed_from: Collection[str],
    accepted: bool = False,
) -> InboxRow:
    """Move a verified document to ``new_state`` if it is still in the state ``row`` shows
    and that state is in ``allowed_from``; ``accepted`` records the first acceptance time.

    The workflow (which move is allowed) is the office's, from ``edxml.StatusCode``; this
    is the guarded write: one compare-and-set UPDATE, which also never moves a rejected
    item. Raises StoreError when no row matched (a move not allowed, or someone else moved
    the document just now).
    """
    values: dict[str, Any] = {"clerk_state": str(new_state), "state_changed_at": now}
    if accepted and row.accepted_at is None:
        values["accepted_at"] = now
    result = conn.execute(
        update(inbox)
        .where(
            inbox.c.id == row.id,
            inbox.c.verdict == InboxVerdict.VERIFIED,
            inbox.c.clerk_state == row.clerk_state,
            inbox.c.clerk_state.in_([str(s) for s in allowed_from]),
        )
        .values(**values)
    )
    if result.rowcount != 1:
        raise StoreError(
            "Trạng thái văn bản vừa bị người khác thay đổi; xem lại rồi thử lại",
            "someone else changed the document's state just now; look again and retry",
            step="mark",
        )
    updated = conn.execute(select(*_ROW).where(inbox.c.id == row.id)).one()
    return InboxRow.from_row(updated)


def record_status(
    conn: Connection,
    *,
    office_id: str,
    direction: str,
    document_id: str,
    counterpart: str,
    status_code: str,
    now: dt.datetime,
    description: str | None = None,
    status_time: dt.datetime | None = None,
    axis_doc_id: str | None = None,
    message: bytes | None = None,
) -> bool:
    """Add a status to the history; False when this axis item was recorded already."""
    if axis_doc_id is not None:
        seen = conn.execute(
            select(status_history.c.id).where(
                status_history.c.office_id == office_id,
                status_history.c.direction == direction,
                status_history.c.axis_doc_id == axis_doc_id,
            )
        ).first()
        if seen is not None:
            return False
    conn.execute(
        insert(status_history).values(
            office_id=office_id,
            direction=direction,
            document_id=document_id,
            counterpart=counterpart,
            status_code=status_code,
            description=description,
            status_time=status_time,
            axis_doc_id=axis_doc_id,
            message=message,
            recorded_at=now,
        )
    )
    return True


def status_history_of(
    conn: Connection,
    office_id: str,
    document_id: str,
    *,
    replies_to: str | None = None,
    answers_from: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The statuses of a document, oldest first.

    A DocumentId names a document of its issuer, yet two senders may use the same one:
    ``replies_to`` (the sender of the received document) keeps only the statuses this
    office sent to that sender, ``answers_from`` (the recipients of the document this
    office sent) only the statuses those recipients sent back. With neither, every status
    recorded under the DocumentId.
    """
    query = select(status_history).where(
        status_history.c.office_id == office_id, status_history.c.document_id == document_id
    )
    if replies_to is not None or answers_from is not None:
        mine = []
        if replies_to is not None:
            mine.append(
                (status_history.c.direction == "out") & (status_history.c.counterpart == replies_to)
            )
        if answers_from:
            mine.append(
                (status_history.c.direction == "in")
                & status_history.c.counterpart.in_(list(answers_from))
            )
        query = query.where(or_(false(), *mine))
    rows = conn.execute(query.order_by(status_history.c.recorded_at, status_history.c.id))
    return [dict(row._mapping) for row in rows]


def received_between(
    conn: Connection, office_id: str, start: dt.datetime, end: dt.datetime
) -> list[InboxRow]:
    """Received messages stored in ``[start, end)``, oldest first (for the reports)."""
    rows = conn.execute(
        select(inbox)
        .where(
            inbox.c.office_id == office_id,
            inbox.c.received_at >= start,
            inbox.c.received_at < end,
        )
        .order_by(inbox.c.received_at, inbox.c.id)
    )
    return [InboxRow.from_row(row) for row in rows]


def waiting_count(conn: Connection, office_id: str, *, state: str) -> int:
    """Received documents in clerk state ``state`` (the office asks for 01: not accepted)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(inbox)
            .where(inbox.c.office_id == office_id, inbox.c.clerk_state == str(state))
        ).scalar_one()
    )
