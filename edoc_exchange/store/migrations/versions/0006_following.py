"""following: sent documents polled by a per-document backoff, from a table of their own

Revision ID: 0006
Revises: 0005

- outbox_following: one row per sent document with what following it needs (DocumentId,
  axis DocId, recipients, when it was sent), its poll schedule (``next_at``, NULL when it
  is not polled; ``interval_s``, the current wait, which doubles up to a cap), when every
  recipient finished (``finished_at``) and when following stopped at the horizon
  (``stopped_at``: the clerk sees it; statuses that arrive are still recorded).
- ix_outbox_following_due (office_id, next_at): a pass reads only what is due.
- ix_outbox_following_document (office_id, document_id): a status finds what it answers.

Apart from the outbox because, on SQLite, updating a column rewrites the whole row with its
message, and reading a column stored after the message walks its overflow pages. Sent
documents still followed are due at once, with a one-minute wait; their sending time is
their last update.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_following",
        sa.Column("outbox_id", _ID, nullable=False),
        sa.Column("office_id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=200), nullable=False),
        sa.Column("axis_doc_id", sa.String(length=100), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("sent_at", _TS, nullable=False),
        sa.Column("next_at", _TS, nullable=True),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("stopped_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_outbox_following_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_outbox_following")),
    )
    op.execute(
        "INSERT INTO outbox_following (outbox_id, office_id, document_id, axis_doc_id, "
        "recipients, sent_at, next_at, interval_s, finished_at) "
        "SELECT id, office_id, document_id, axis_doc_id, recipients, updated_at, "
        "CASE WHEN final_at IS NULL THEN updated_at END, 60, final_at "
        "FROM outbox WHERE state = 'SENT' AND kind = 'edoc' AND axis_doc_id IS NOT NULL"
    )
    op.create_index("ix_outbox_following_due", "outbox_following", ["office_id", "next_at"])
    op.create_index(
        "ix_outbox_following_document", "outbox_following", ["office_id", "document_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_following_document", table_name="outbox_following")
    op.drop_index("ix_outbox_following_due", table_name="outbox_following")
    op.drop_table("outbox_following")
