"""inbox_work: one listing of the axis feeds every daemon of an office

Revision ID: 0005
Revises: 0004

- inbox_work: the items a daemon listed at the axis and no daemon has taken yet. Daemons
  take a few at a time (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), turning them into
  claims (``inbox_claims``), instead of each daemon walking the whole list and racing for
  every item. A row holds only what the listing said; losing one loses nothing (the item
  stays listed at the axis until acknowledged, and the next listing adds it again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_work",
        sa.Column("office_id", sa.String(length=32), nullable=False),
        sa.Column("axis_doc_id", sa.String(length=100), nullable=False),
        sa.Column("sender", sa.String(length=32), nullable=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("office_id", "axis_doc_id", name=op.f("pk_inbox_work")),
    )
    op.create_index("ix_inbox_work_listed", "inbox_work", ["office_id", "listed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_work_listed", table_name="inbox_work")
    op.drop_table("inbox_work")
