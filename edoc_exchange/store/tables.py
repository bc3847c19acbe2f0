"""The tables: outbox, inbox, recipients' statuses, status history, directory, audit log.

Every row belongs to an office (``office_id``, the office's OrganId), so one PostgreSQL
database can serve a whole province of communes. Messages are stored as their exact bytes
(the signed bytes for received documents) beside the fields extracted from them.

Changing a table means a new alembic revision in ``store/migrations/versions``.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
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
)

__all__ = [
    "InboxVerdict",
    "OutboxState",
    "audit_checkpoints",
    "audit_entries",
    "audit_heads",
    "inbox",
    "inbox_claims",
    "metadata",
    "organisations",
    "outbox",
    "recipient_statuses",
    "status_history",
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
    UniqueConstraint("office_id", "sha256"),
    Index("ix_outbox_claim", "state", "next_attempt_at"),
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
    Column("message", LargeBinary, nullable=False),  # exactly the bytes received
    Column("sha256", _SHA256, nullable=False),
    Column("verdict", Enum(InboxVerdict, native_enum=False, length=16), nullable=False),
    Column("reason", Text),
    Column("signer_subject", Text),
    Column("signer_serial", String(64)),
    Column("clerk_state", String(4), nullable=False),  # 01 … 06, 02 for rejected
    Column("received_at", _TS, nullable=False),
    Column("state_changed_at", _TS, nullable=False),
    Column("accepted_at", _TS),  # first status 03
    UniqueConstraint("office_id", "axis_doc_id"),
    UniqueConstraint("office_id", "document_id", "business_doc_type"),
)

inbox_claims = Table(
    "inbox_claims",
    metadata,
    # A daemon about to fetch and verify an incoming item claims it here first, so that
    # several daemons sharing the database never process the same item at once; a claim
    # whose heartbeat stopped (the daemon died) may be taken over. The claim is released
    # with the "acknowledged" audit event, so a stored item still claimed is one whose
    # acknowledgement is not yet recorded.
    Column("office_id", _ORGAN, primary_key=True),
    Column("axis_doc_id", String(100), primary_key=True),
    Column("claimed_by", String(100), nullable=False),
    Column("heartbeat_at", _TS, nullable=False),
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
