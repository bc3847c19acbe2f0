"""lifecycle and PDF verdicts: what happened to a document after it was sent or received

Revision ID: 0009
Revises: 0008

- document_changes: revoked / updated / replaced / asked back, by which message, with the
  outcome (applied, or kept and reported when the original is unknown or another
  sender's); the original rows are never changed.
- pdf_verdicts: the receiver's check of each PDF attachment's signatures.

New tables only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ORGAN = sa.String(length=32)


def upgrade() -> None:
    op.create_table(
        "document_changes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("office_id", _ORGAN, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("issuer", _ORGAN, nullable=False),
        sa.Column("document_id", sa.String(length=200), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("by_document_id", sa.String(length=200), nullable=True),
        sa.Column("by_inbox_id", _ID, nullable=True),
        sa.Column("by_outbox_id", _ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["by_inbox_id"], ["inbox.id"], name=op.f("fk_document_changes_by_inbox_id_inbox"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["by_outbox_id"], ["outbox.id"],
            name=op.f("fk_document_changes_by_outbox_id_outbox"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_changes")),
    )
    op.create_index(
        "ix_document_changes_document", "document_changes", ["office_id", "issuer", "document_id"]
    )
    op.create_table(
        "pdf_verdicts",
        sa.Column("inbox_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("checked_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox.id"], name=op.f("fk_pdf_verdicts_inbox_id_inbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("inbox_id", "position", name=op.f("pk_pdf_verdicts")),
    )


def downgrade() -> None:
    op.drop_table("pdf_verdicts")
    op.drop_index("ix_document_changes_document", table_name="document_changes")
    op.drop_table("document_changes")
