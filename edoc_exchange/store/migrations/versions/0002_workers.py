"""workers: one row per daemon process; claims reference their worker

Revision ID: 0002
Revises: 0001

- workers: one row per running daemon process (name, host, pid), beaten every few seconds
  by a background thread and marked stopped when the process stops cleanly (or when the
  next run of the same worker name starts). Liveness is the worker's, not each row's.
- outbox.worker_id, inbox_claims.worker_id: the worker that holds a ``sending`` row or a
  claim. NULL for rows claimed before this revision and by one-shot commands (``edoc
  send``), which keep the old rule: their own ``heartbeat_at`` older than stale_after.
- ix_outbox_document: an incoming status finds the sent row it answers by DocumentId.

Plain nullable columns without a foreign key: SQLite adds them with ALTER TABLE ADD COLUMN
instead of copying the outbox (every message it holds) into a new table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index("ix_workers_name", "workers", ["name"])
    op.add_column("outbox", sa.Column("worker_id", _ID, nullable=True))
    op.add_column("inbox_claims", sa.Column("worker_id", _ID, nullable=True))
    op.create_index("ix_outbox_document", "outbox", ["office_id", "document_id"])
    op.create_index("ix_inbox_claims_worker", "inbox_claims", ["worker_id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_claims_worker", table_name="inbox_claims")
    op.drop_index("ix_outbox_document", table_name="outbox")
    with op.batch_alter_table("inbox_claims", schema=None) as batch_op:
        batch_op.drop_column("worker_id")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("worker_id")
    op.drop_table("workers")
