"""The tables: outbox, inbox, recipients' statuses, status history, directory, audit log.

Every row belongs to an office (``office_id``, the office's OrganId), so one PostgreSQL
database can serve a whole province of communes. Messages are stored as bytes beside the
fields extracted from them: outgoing ones exactly as sent; a received document as its
signed message (what the signature covers, with the signature) or, when rejected, as the
raw bytes that arrived, flagged as evidence (``inbox.message_form``).

Changing a table means a new alembic revision in ``store/migrations/versions``.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "DraftState",
    "InboxVerdict",
    "MessageForm",
    "OutboxState",
    "Role",
    "audit_checkpoints",
    "audit_entries",
    "audit_heads",
    "document_changes",
    "draft_files",
    "drafts",
    "inbox",
    "inbox_claims",
    "inbox_handling",
    "inbox_work",
    "incoming_register",
    "login_failures",
    "metadata",
    "notifications_sent",
    "office_polls",
    "organisations",
    "outbox",
    "outbox_following",
    "outgoing_register",
    "pdf_verdicts",
    "recipient_statuses",
    "status_history",
    "users",
    "web_sessions",
    "workers",
]

# Stable constraint names: alembic migrations and PostgreSQL error messages can name them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_TS = DateTime(timezone=True)
_ORGAN = String(32)
_SHA256 = String(64)


class OutboxState(enum.StrEnum):
    """Where an outgoing message is on its way to the axis."""

    QUEUED = "queued"  #: waiting (maybe until next_attempt_at) for a daemon to send it
    SENDING = "sending"  #: claimed by a daemon; reclaimed if its heartbeat stops
    SENT = "sent"  #: the axis gave it a DocId; recipients' statuses are followed
    FAILED = "failed"  #: refused by the axis (a validation answer): a person must act


class InboxVerdict(enum.StrEnum):
    """What verification said about a received message."""

    VERIFIED = "verified"  #: signature valid under the trust policy: handed to the clerk
    REJECTED = "rejected"  #: kept as evidence with its reason, answered with status 02


class Role(enum.StrEnum):
    """What a member of an office's staff may do (the web pages and the CLI check it)."""

    CLERK = "van_thu"  #: văn thư: registers, assigns, issues, sends
    LEADER = "lanh_dao"  #: lãnh đạo: approves drafts, assigns, sees everything
    OFFICER = "chuyen_vien"  #: chuyên viên: handles what was assigned, writes drafts
    ADMIN = "quan_tri"  #: quản trị: accounts, the audit log, the configuration


class DraftState(enum.StrEnum):
    """Where an outgoing document is before it leaves (a queued one is in the outbox)."""

    DRAFT = "draft"  #: being written; anyone of the office may edit it
    SUBMITTED = "submitted"  #: waiting for a leader's approval
    APPROVED = "approved"  #: approved; the văn thư issues it (number, sign, queue)
    ISSUED = "issued"  #: numbered, signed and queued: the outbox row tells the rest


class MessageForm(enum.StrEnum):
    """What the bytes of an inbox row are, so that nobody reads evidence as content."""

    #: The signed content with its signature put back (``signing.signed_message``): made
    #: from the VerifiedMessage alone, verifies again on its own, holds nothing unsigned.
    SIGNED = "signed"
    #: The bytes as they arrived: evidence of a rejection (or of a row stored before
    #: revision 0003, verified on arrival); never handed out as a document's content.
    RAW = "raw"


outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("kind", String(8), nullable=False),  # edoc | status
    Column("document_id", String(200), nullable=False),
    Column("status_code", String(4)),  # for status messages
    Column("subject", Text),
    Column("recipients", Text, nullable=False),  # JSON array of OrganIds
    Column("message", LargeBinary, nullable=False),
    Column("sha256", _SHA256, nullable=False),
    # A large message is kept as a blob file (store.blobs): message is then empty,
    # message_blob and sha256 hold its SHA-256 (revision 0007).
    Column("message_blob", _SHA256),
    Column("message_size", BigInteger),
    Column("signed", Integer, nullable=False, default=0),
    Column("state", Enum(OutboxState, native_enum=False, length=16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", _TS, nullable=False),
    Column("last_error", Text),
    Column("axis_doc_id", String(100)),
    Column("claimed_by", String(100)),
    Column("heartbeat_at", _TS),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column("final_at", _TS),  # every recipient reached a final status
    # The worker (workers.id) whose process holds the row while it is ``sending``; NULL
    # for a one-shot command's claim, which lives by its own heartbeat_at instead.
    Column("worker_id", BigInteger().with_variant(Integer, "sqlite")),
    UniqueConstraint("office_id", "sha256"),
    Index("ix_outbox_claim", "state", "next_attempt_at"),
    Index("ix_outbox_document", "office_id", "document_id"),
)

outbox_following = Table(
    "outbox_following",
    metadata,
    # One row per sent document, written when the axis took it: what following it needs
    # (its identifiers, recipients and poll schedule), apart from the outbox row. On
    # SQLite, updating any column of a row rewrites the whole record, message included,
    # and reading a column stored after the message walks its overflow pages: following
    # would otherwise read and rewrite every document it polls (measured: a poll of a
    # 28 MB document took the process from 44 to 100 MB and wrote the message to the WAL).
    Column("outbox_id", ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("document_id", String(200), nullable=False),
    Column("axis_doc_id", String(100), nullable=False),
    Column("recipients", Text, nullable=False),  # JSON array of OrganIds
    Column("sent_at", _TS, nullable=False),
    # When to ask the axis next how it fares (getSentEdocList); NULL when it is no longer
    # polled: every recipient reached a final status, or following stopped at the horizon.
    Column("next_at", _TS),
    Column("interval_s", Integer, nullable=False),  # the current wait between two polls
    Column("finished_at", _TS),  # every recipient reached a final status
    Column("stopped_at", _TS),  # the horizon passed: not polled; statuses still recorded
    # The documents due for a poll, longest due first, by a range scan (NULL never matches).
    Index("ix_outbox_following_due", "office_id", "next_at"),
    # An incoming status finds the documents it answers by DocumentId.
    Index("ix_outbox_following_document", "office_id", "document_id"),
)

recipient_statuses = Table(
    "recipient_statuses",
    metadata,
    Column("outbox_id", ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("organ_id", _ORGAN, primary_key=True),
    Column("send_status", String(32)),
    Column("receive_status", String(32)),
    Column("status_code", String(4)),  # the latest status message from this recipient
    Column("updated_at", _TS, nullable=False),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("axis_doc_id", String(100), nullable=False),
    Column("document_id", String(200), nullable=False),
    Column("business_doc_type", Integer, nullable=False, default=0),
    Column("sender", _ORGAN, nullable=False),
    Column("subject", Text),
    Column("due_date", String(10)),
    Column("message", LargeBinary, nullable=False),  # what message_form says it is
    Column("message_form", Enum(MessageForm, native_enum=False, length=8), nullable=False),
    Column("sha256", _SHA256, nullable=False),  # of message
    # A large message is kept as a blob file (store.blobs), named by its SHA-256: then
    # message is empty, message_blob and sha256 hold that hash (revision 0007).
    Column("message_blob", _SHA256),
    Column("message_size", BigInteger),
    Column("verdict", Enum(InboxVerdict, native_enum=False, length=16), nullable=False),
    Column("reason", Text),
    Column("signer_subject", Text),
    Column("signer_serial", String(64)),
    Column("signer_issuer", Text),
    Column("signer_fingerprint", _SHA256),  # SHA-256 of the signer's certificate
    Column("signing_time", _TS),  # carried in the signed message
    Column("signature_xml", LargeBinary),  # the ds:Signature as received
    # What a reply's ResponseFor needs, taken from the verified message (claimed, for a
    # rejected one): "Number/Notation" and the promulgation date (yyyy-mm-dd).
    Column("code", String(200)),
    Column("promulgation_date", String(10)),
    # Why the document's identity is doubtful (its DocumentId names another issuer than
    # its sender), when the trust policy let it in anyway.
    Column("identity_finding", Text),
    Column("clerk_state", String(4), nullable=False),  # a StatusCode; 02 for rejected
    Column("received_at", _TS, nullable=False),
    Column("state_changed_at", _TS, nullable=False),
    Column("accepted_at", _TS),  # first status 03
    # For the lists and the search (revision 0008): the sender's name and the document's
    # type and urgency as the verified message gave them, and ``search_text``: subject,
    # sender name, số/ký hiệu and DocumentId folded (lower case, no accents, đ as d), so
    # that "ke hoach" finds "Kế hoạch".
    Column("sender_name", Text),
    Column("doc_type", Text),
    Column("priority", Integer),
    Column("search_text", Text),
    UniqueConstraint("office_id", "axis_doc_id"),
    # A verified document is identified by who sent it and what it calls itself (an update
    # re-uses the DocumentId with another business type). Rejected rows take no identity:
    # a forgery that claims another sender must not occupy that sender's document.
    Index(
        "uq_inbox_identity",
        "office_id",
        "sender",
        "document_id",
        "business_doc_type",
        unique=True,
        sqlite_where=text("verdict = 'VERIFIED'"),
        postgresql_where=text("verdict = 'VERIFIED'"),
    ),
    Index("ix_inbox_document_id", "office_id", "document_id"),
    # The incoming list, newest first, a page at a time (revision 0008).
    Index("ix_inbox_office_newest", "office_id", "id"),
)

outgoing_register = Table(
    "outgoing_register",
    metadata,
    # The outgoing register (sổ văn bản đi): a number is used once per office, notation
    # (the kind of document and its issuing unit, "KH-UBND") and year. The primary key is
    # what makes two processes that number at once take different numbers.
    Column("office_id", _ORGAN, primary_key=True),
    Column("notation", String(100), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("number", Integer, primary_key=True),
    # The DocumentId the number was taken for; a reserved number whose document never
    # reached the outbox (a crash while composing) is a gap, never a second use.
    Column("document_id", String(200)),
    Column("reserved_at", _TS, nullable=False),
)

inbox_claims = Table(
    "inbox_claims",
    metadata,
    # A daemon about to fetch and verify an incoming item claims it here first, so that
    # several daemons sharing the database never process the same item at once; a claim
    # whose worker stopped (or died: its heartbeat is stale) may be taken over. The claim
    # is released with the "acknowledged" audit event, so a stored item still claimed is
    # one whose acknowledgement is not yet recorded.
    Column("office_id", _ORGAN, primary_key=True),
    Column("axis_doc_id", String(100), primary_key=True),
    Column("claimed_by", String(100), nullable=False),
    Column("heartbeat_at", _TS, nullable=False),  # when claimed (or last taken over)
    # The claiming worker's row; NULL for a claim made without one (it lives by
    # heartbeat_at and stale_after, the rule before workers had rows).
    Column("worker_id", BigInteger().with_variant(Integer, "sqlite")),
    Index("ix_inbox_claims_worker", "worker_id"),
)

inbox_work = Table(
    "inbox_work",
    metadata,
    # What a daemon listed at the axis and no daemon has taken yet: one listing feeds every
    # daemon of the office, which take a few items at a time (SKIP LOCKED on PostgreSQL)
    # and turn them into claims. Only what the listing said; a lost row is listed again.
    Column("office_id", _ORGAN, primary_key=True),
    Column("axis_doc_id", String(100), primary_key=True),
    Column("sender", _ORGAN),
    Column("listed_at", _TS, nullable=False),
    Index("ix_inbox_work_listed", "office_id", "listed_at"),
)

office_polls = Table(
    "office_polls",
    metadata,
    # When the office's list of one kind ("edoc", "status") was last asked of the axis,
    # and by which worker: the office's daemons list once per interval between them.
    Column("office_id", _ORGAN, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("polled_at", _TS, nullable=False),
    Column("polled_by", String(100), nullable=False),
)

workers = Table(
    "workers",
    metadata,
    # One row per daemon process: its heartbeat (beaten by a background thread every few
    # seconds) is the liveness of every claim it holds. A worker that stops cleanly sets
    # stopped_at; so does the next start of the same name. Work of a worker whose
    # heartbeat is older than stale_after, or that stopped, is taken over.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("name", String(100), nullable=False),  # the [daemon] worker setting
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", _TS, nullable=False),
    Column("heartbeat_at", _TS, nullable=False),
    Column("stopped_at", _TS),
    Index("ix_workers_name", "name"),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("document_id", String(200), nullable=False),
    Column("counterpart", _ORGAN, nullable=False),  # who sent it (in) or receives it (out)
    Column("status_code", String(4), nullable=False),
    Column("description", Text),
    Column("status_time", _TS),
    Column("axis_doc_id", String(100)),
    Column("message", LargeBinary),
    Column("recorded_at", _TS, nullable=False),
    UniqueConstraint("office_id", "direction", "axis_doc_id"),
    Index("ix_status_history_doc", "office_id", "document_id"),
)

organisations = Table(
    "organisations",
    metadata,
    Column("organ_id", _ORGAN, primary_key=True),
    Column("name", Text, nullable=False),
    Column("parent_id", _ORGAN),
    Column("extra", Text),  # JSON of whatever else the directory said
    Column("refreshed_at", _TS, nullable=False),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("office_id", _ORGAN, primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("event", String(40), nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON of the whole entry
    Column("prev_hash", _SHA256, nullable=False),
    Column("entry_hash", _SHA256, nullable=False),
    Column("created_at", _TS, nullable=False),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    # One row per office, locked by every append so that appends are strictly ordered.
    Column("office_id", _ORGAN, primary_key=True),
    Column("size", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("last_hash", _SHA256, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("office_id", _ORGAN, primary_key=True),
    Column("tree_size", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("root_hash", _SHA256, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("body", Text, nullable=False),  # the canonical JSON that was signed
    Column("signature", LargeBinary),
    Column("certificate", LargeBinary),  # PEM of the office certificate that signed
)

users = Table(
    "users",
    metadata,
    # The staff of an office who sign in to the web pages. A user belongs to one office:
    # a province serving many offices from one database shows each office's data only to
    # its own accounts. Names are unique in the database (sign-in asks no office).
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("username", String(64), nullable=False, unique=True),
    Column("full_name", Text, nullable=False),
    Column("role", Enum(Role, native_enum=False, length=16), nullable=False),
    Column("email", String(255)),
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("disabled_at", _TS),
    Column("created_at", _TS, nullable=False),
    Column("password_changed_at", _TS, nullable=False),
    Column("seen_at", _TS),  # what arrived before this was seen (the notification badge)
    Index("ix_users_office", "office_id"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # A signed-in browser: the cookie holds a random token, the row its SHA-256 only, so a
    # copy of the database opens no session. Disabling a user or changing a password ends
    # the user's sessions (their rows are deleted).
    Column("token_hash", _SHA256, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("seen_at", _TS, nullable=False),
    Column("expires_at", _TS, nullable=False),
    Index("ix_web_sessions_user", "user_id"),
)

login_failures = Table(
    "login_failures",
    metadata,
    # Failed sign-ins, by user name and by client address, for rate limiting that holds
    # across every process serving the pages; old rows are deleted as new ones come.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("key", String(300), nullable=False),  # "user:<name>" or "ip:<address>"
    Column("at", _TS, nullable=False),
    Index("ix_login_failures_key", "key", "at"),
)

incoming_register = Table(
    "incoming_register",
    metadata,
    # The incoming register (sổ văn bản đến): each registered document takes the next
    # number of its office and year, once; the key makes two clerks take different ones.
    Column("office_id", _ORGAN, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("inbox_id", ForeignKey("inbox.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("registered_at", _TS, nullable=False),
    Column("registered_by", BigInteger().with_variant(Integer, "sqlite")),  # users.id
)

inbox_handling = Table(
    "inbox_handling",
    metadata,
    # Who handles a received document and by when (phân công): the latest assignment.
    Column("inbox_id", ForeignKey("inbox.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("assignee_id", ForeignKey("users.id"), nullable=False),
    Column("deadline", String(10)),  # ISO date
    Column("assigned_by", BigInteger().with_variant(Integer, "sqlite")),  # users.id
    Column("assigned_at", _TS, nullable=False),
    Column("note", Text),
    Index("ix_inbox_handling_assignee", "office_id", "assignee_id"),
)

drafts = Table(
    "drafts",
    metadata,
    # An outgoing document before it leaves: written, approved by a leader, then issued by
    # the văn thư (a number from the outgoing register, signed, queued: outbox_id).
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("state", Enum(DraftState, native_enum=False, length=16), nullable=False),
    Column("fields", Text, nullable=False),  # JSON: type, notation, subject, recipients...
    Column("created_by", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("approved_by", BigInteger().with_variant(Integer, "sqlite")),
    Column("approved_at", _TS),
    Column("document_id", String(200)),  # once issued
    Column("outbox_id", BigInteger().with_variant(Integer, "sqlite")),  # once issued
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Index("ix_drafts_office_state", "office_id", "state"),
)

draft_files = Table(
    "draft_files",
    metadata,
    # The files of a draft: its main document (position 0) and its attachments, in order.
    Column("draft_id", ForeignKey("drafts.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", _SHA256, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

notifications_sent = Table(
    "notifications_sent",
    metadata,
    # What each member of staff was told by e-mail (a new document, one past its due
    # date), so that a notice is sent once however many passes see it.
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # "new" | "overdue"
    Column("inbox_id", ForeignKey("inbox.id", ondelete="CASCADE"), primary_key=True),
    Column("sent_at", _TS, nullable=False),
)

document_changes = Table(
    "document_changes",
    metadata,
    # A document's lifecycle (revision 0009): revoked (thu hồi), updated (cập nhật),
    # replaced (thay thế) by a later message (BussinessDocType 1/2/3), or asked back
    # (status 13, answered 15/16). The original row is never changed or deleted: this
    # table says what happened to it and which message did it.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("office_id", _ORGAN, nullable=False),
    Column("direction", String(3), nullable=False),  # in (a peer's) | out (ours)
    Column("issuer", _ORGAN, nullable=False),  # whose document it is
    Column("document_id", String(200), nullable=False),  # the document changed
    Column("change", String(16), nullable=False),  # revoked|updated|replaced|takeback...
    Column("by_document_id", String(200)),  # the message that did it (its DocumentId)
    Column("by_inbox_id", ForeignKey("inbox.id", ondelete="SET NULL")),
    Column("by_outbox_id", ForeignKey("outbox.id", ondelete="SET NULL")),
    Column("reason", Text),
    # "applied" (the original is known and marked), "unknown-original" (kept, reported,
    # not applied), "refused" (e.g. another sender's document), "asked", "accepted"...
    Column("outcome", String(32), nullable=False),
    Column("at", _TS, nullable=False),
    Index("ix_document_changes_document", "office_id", "issuer", "document_id"),
)

pdf_verdicts = Table(
    "pdf_verdicts",
    metadata,
    # What the receiver found of each PDF attachment's signatures (revision 0009): who
    # signed, when, intact or not, trusted or not, revocation checked or not, as JSON.
    Column("inbox_id", ForeignKey("inbox.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),  # the attachment's index
    Column("name", Text, nullable=False),
    Column("verdict", String(16), nullable=False),  # valid|invalid|untrusted|unsigned|error
    Column("details", Text, nullable=False),  # JSON: one entry per signature
    Column("checked_at", _TS, nullable=False),
)


paper_counts = Table(
    "paper_counts",
    metadata,
    # Documents the office handled on paper in a quarter (revision 0010), entered by the
    # clerk: the e-governance report's share of documents handled electronically.
    Column("office_id", _ORGAN, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("quarter", Integer, primary_key=True),  # 1..4
    Column("direction", String(3), primary_key=True),  # in | out
    Column("count", Integer, nullable=False),
    Column("entered_by", String(200), nullable=True),
    Column("entered_at", _TS, nullable=False),
    CheckConstraint("quarter BETWEEN 1 AND 4", name="quarter"),
    CheckConstraint("direction IN ('in', 'out')", name="direction"),
    CheckConstraint("count >= 0", name="count"),
)

