"""staff: accounts, web sessions, the incoming register, assignments and drafts

Revision ID: 0008
Revises: 0007

- users: an office's staff who sign in (argon2id hash, role, disabled_at, seen_at);
  user names unique in the database.
- web_sessions: signed-in browsers by the SHA-256 of their cookie token, with the
  session's CSRF token and expiry.
- login_failures: failed sign-ins by user name and by address, for rate limiting.
- incoming_register: the sổ văn bản đến, one number per office, year and document.
- inbox_handling: who handles a received document, by when.
- drafts, draft_files: outgoing documents before they are issued, with their files.
- notifications_sent: which e-mail notices each user was sent (once each).
- inbox.sender_name, doc_type, priority, search_text: for the lists and the accent-free
  search; filled for new rows by the store, for existing rows here from their subject,
  code and DocumentId (the name, type and urgency stay empty for those: the verified
  message is not re-read in a migration); ix_inbox_office_newest for the list's pages.

Plain nullable columns and new tables: SQLite adds the columns without copying the inbox.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ORGAN = sa.String(length=32)


def _fold(text: str) -> str:
    """store.search.fold, frozen here as it was when this revision was written."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.lower().split())


def upgrade() -> None:
    op.add_column("inbox", sa.Column("sender_name", sa.Text(), nullable=True))
    op.add_column("inbox", sa.Column("doc_type", sa.Text(), nullable=True))
    op.add_column("inbox", sa.Column("priority", sa.Integer(), nullable=True))
    op.add_column("inbox", sa.Column("search_text", sa.Text(), nullable=True))
    op.create_index("ix_inbox_office_newest", "inbox", ["office_id", "id"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, subject, code, document_id FROM inbox")).all()
    for row in rows:
        parts = [row.subject or "", row.code or "", row.document_id or ""]
        conn.execute(
            sa.text("UPDATE inbox SET search_text = :text WHERE id = :id"),
            {"text": _fold(" ".join(parts)), "id": row.id},
        )
    op.create_table(
        "users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("office_id", _ORGAN, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("CLERK", "LEADER", "OFFICER", "ADMIN", name="role", native_enum=False,
                    length=16),
            nullable=False,
        ),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("password_changed_at", _TS, nullable=False),
        sa.Column("seen_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index("ix_users_office", "users", ["office_id"])
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
    op.create_table(
        "login_failures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_key", "login_failures", ["key", "at"])
    op.create_table(
        "incoming_register",
        sa.Column("office_id", _ORGAN, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("inbox_id", _ID, nullable=False),
        sa.Column("registered_at", _TS, nullable=False),
        sa.Column("registered_by", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox.id"], name=op.f("fk_incoming_register_inbox_id_inbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("office_id", "year", "number", name=op.f("pk_incoming_register")),
        sa.UniqueConstraint("inbox_id", name=op.f("uq_incoming_register_inbox_id")),
    )
    op.create_table(
        "inbox_handling",
        sa.Column("inbox_id", _ID, nullable=False),
        sa.Column("office_id", _ORGAN, nullable=False),
        sa.Column("assignee_id", _ID, nullable=False),
        sa.Column("deadline", sa.String(length=10), nullable=True),
        sa.Column("assigned_by", _ID, nullable=True),
        sa.Column("assigned_at", _TS, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox.id"], name=op.f("fk_inbox_handling_inbox_id_inbox"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_inbox_handling_assignee_id_users")
        ),
        sa.PrimaryKeyConstraint("inbox_id", name=op.f("pk_inbox_handling")),
    )
    op.create_index("ix_inbox_handling_assignee", "inbox_handling", ["office_id", "assignee_id"])
    op.create_table(
        "drafts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("office_id", _ORGAN, nullable=False),
        sa.Column(
            "state",
            sa.Enum("DRAFT", "SUBMITTED", "APPROVED", "ISSUED", name="draftstate",
                    native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("created_by", _ID, nullable=False),
        sa.Column("approved_by", _ID, nullable=True),
        sa.Column("approved_at", _TS, nullable=True),
        sa.Column("document_id", sa.String(length=200), nullable=True),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
    )
    op.create_index("ix_drafts_office_state", "drafts", ["office_id", "state"])
    op.create_table(
        "draft_files",
        sa.Column("draft_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["drafts.id"], name=op.f("fk_draft_files_draft_id_drafts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("draft_id", "position", name=op.f("pk_draft_files")),
    )
    op.create_table(
        "notifications_sent",
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("inbox_id", _ID, nullable=False),
        sa.Column("sent_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_sent_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox.id"], name=op.f("fk_notifications_sent_inbox_id_inbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", "inbox_id", name=op.f("pk_notifications_sent")),
    )


def downgrade() -> None:
    for name in (
        "notifications_sent",
        "draft_files",
        "drafts",
        "inbox_handling",
        "incoming_register",
        "login_failures",
        "web_sessions",
        "users",
    ):
        op.drop_table(name)
    op.drop_index("ix_inbox_office_newest", table_name="inbox")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        for column in ("search_text", "priority", "doc_type", "sender_name"):
            batch_op.drop_column(column)
