"""blobs: large received messages kept in files beside the database, not in the row

Revision ID: 0007
Revises: 0006

- inbox.message_blob: the SHA-256 (hex) of a message kept as a blob file
  (``store.blobs``: content-addressed, written atomically, beside the database); the row's
  ``message`` is then empty and ``sha256`` is the blob's. NULL for a message in the row.
- inbox.message_size: the size in bytes of the message (blob or row), for display and to
  check a blob against its row.
- outbox.message_blob, outbox.message_size: the same for a large outgoing message, queued
  signed from a file and sent streamed from its blob.

Plain nullable columns: SQLite adds them with ALTER TABLE ADD COLUMN, without copying the
inbox (every message it holds) into a new table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox", sa.Column("message_blob", sa.String(64), nullable=True))
    op.add_column("inbox", sa.Column("message_size", sa.BigInteger(), nullable=True))
    op.add_column("outbox", sa.Column("message_blob", sa.String(64), nullable=True))
    op.add_column("outbox", sa.Column("message_size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("message_size")
        batch_op.drop_column("message_blob")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("message_size")
        batch_op.drop_column("message_blob")
