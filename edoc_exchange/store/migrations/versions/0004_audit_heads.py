"""audit heads: every office with data has its audit log's head row

Revision ID: 0004
Revises: 0003

Appending no longer creates the head row on the way (an ``INSERT … ON CONFLICT`` in every
append): the row is made when an office is set up (``audit.create_log``), and an append
for an office without one is an error naming the office. This revision makes the row, as
an empty log (size 0, the genesis hash), for every office that has rows in the store but
no head: an office whose log was never appended to.

An office with entries but no head row can only be one whose head row was deleted (every
append made it before writing an entry). It gets an empty head too, which is what
verification assumed for a missing head before this revision: the log still fails to
verify ("the log head records 0 entries"), rather than being repaired into a log that
passes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_TABLES_WITH_OFFICES = (
    "audit_entries",
    "audit_checkpoints",
    "inbox",
    "outbox",
    "inbox_claims",
    "outgoing_register",
    "status_history",
)


def upgrade() -> None:
    heads = sa.table(
        "audit_heads", sa.column("office_id"), sa.column("size"), sa.column("last_hash")
    )
    known = sa.union(
        *(
            sa.select(sa.table(name, sa.column("office_id")).c.office_id)
            for name in _TABLES_WITH_OFFICES
        )
    ).subquery("known")
    op.execute(
        heads.insert().from_select(
            ["office_id", "size", "last_hash"],
            sa.select(known.c.office_id, sa.literal(0), sa.literal(_GENESIS)).where(
                known.c.office_id.not_in(sa.select(heads.c.office_id))
            ),
        )
    )


def downgrade() -> None:
    # Empty head rows are what revision 0003 made at the first append: nothing to undo.
    pass
