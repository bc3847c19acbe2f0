"""paper counts: documents the office handled on paper, entered by the clerk per quarter

Revision ID: 0010
Revises: 0009

- paper_counts: how many documents the office sent and received on paper in a quarter,
  entered by the clerk, so that the e-governance report can give the share handled
  electronically. One row per office, year, quarter and direction; a new entry replaces
  the old one (who entered it and when are kept, and the change is an audit event).

New table only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ORGAN = sa.String(length=32)


def upgrade() -> None:
    op.create_table(
        "paper_counts",
        sa.Column("office_id", _ORGAN, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("entered_by", sa.String(length=200), nullable=True),
        sa.Column("entered_at", _TS, nullable=False),
        sa.CheckConstraint("quarter BETWEEN 1 AND 4", name=op.f("ck_paper_counts_quarter")),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_paper_counts_direction")),
        sa.CheckConstraint("count >= 0", name=op.f("ck_paper_counts_count")),
        sa.PrimaryKeyConstraint(
            "office_id", "year", "quarter", "direction", name=op.f("pk_paper_counts")
        ),
    )


def downgrade() -> None:
    op.drop_table("paper_counts")
