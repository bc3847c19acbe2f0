"""following: sent documents are polled by a per-document backoff, found by index

Revision ID: 0006
Revises: 0003

- outbox.sent_at: when the axis took the message (the horizon of following counts from it).
- outbox.follow_next_at: when to ask the axis next how a sent document fares
  (getSentEdocList); NULL when it is not polled: not sent, every recipient reached a final
  status, or following stopped at the horizon.
- outbox.follow_interval: the current wait between two polls, in seconds (it doubles up to
  a cap; a status message from every recipient puts it at the cap).
- outbox.follow_stopped_at: when following stopped at the horizon; the clerk sees it, and
  statuses that arrive afterwards are still recorded.
- ix_outbox_follow (office_id, follow_next_at): a pass reads only the documents due.

Plain nullable columns: SQLite adds them with ALTER TABLE ADD COLUMN instead of copying the
outbox (every message it holds) into a new table. Sent documents still followed are due at
once, with the first interval; their sending time is their last update.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("outbox", sa.Column("sent_at", _TS, nullable=True))
    op.add_column("outbox", sa.Column("follow_next_at", _TS, nullable=True))
    op.add_column("outbox", sa.Column("follow_interval", sa.Integer(), nullable=True))
    op.add_column("outbox", sa.Column("follow_stopped_at", _TS, nullable=True))
    op.execute("UPDATE outbox SET sent_at = updated_at WHERE state = 'SENT'")
    op.execute(
        "UPDATE outbox SET follow_next_at = updated_at "
        "WHERE state = 'SENT' AND kind = 'edoc' AND final_at IS NULL"
    )
    op.create_index("ix_outbox_follow", "outbox", ["office_id", "follow_next_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_follow", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("follow_stopped_at")
        batch_op.drop_column("follow_interval")
        batch_op.drop_column("follow_next_at")
        batch_op.drop_column("sent_at")
