"""identity: received documents keyed by sender, verified evidence, the outgoing register

Revision ID: 0003
Revises: 0002

- inbox: a verified document is unique per (office, sender, DocumentId, business type),
  rejected rows take no identity (a partial unique index); the row says what its bytes are
  (``message_form``: the signed message, or raw evidence), and keeps the signature, the
  signer's certificate facts and the fields a reply needs (``code``,
  ``promulgation_date``), so that the clerk's actions never read bytes again.
- outgoing_register: one row per number taken, keyed by (office, notation, year, number).

Rows stored before this revision keep the bytes as they arrived (``raw``); the reply fields
are read from them once, here, and the register is filled from the outbox's DocumentIds.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_VERIFIED = sa.text("verdict = 'VERIFIED'")
_DATE = re.compile(r"(\d{4})/\d{2}/\d{2}")


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "message_form",
                sa.Enum("SIGNED", "RAW", name="messageform", native_enum=False, length=8),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("signer_issuer", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("signer_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("signing_time", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("signature_xml", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("code", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("promulgation_date", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("identity_finding", sa.Text(), nullable=True))
        batch_op.drop_constraint(
            "uq_inbox_office_id_document_id_business_doc_type", type_="unique"
        )
    op.execute("UPDATE inbox SET message_form = 'RAW'")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.alter_column(
            "message_form",
            existing_type=sa.Enum("SIGNED", "RAW", name="messageform", native_enum=False, length=8),
            nullable=False,
        )
    op.create_index(
        "uq_inbox_identity",
        "inbox",
        ["office_id", "sender", "document_id", "business_doc_type"],
        unique=True,
        sqlite_where=_VERIFIED,
        postgresql_where=_VERIFIED,
    )
    op.create_index("ix_inbox_document_id", "inbox", ["office_id", "document_id"])
    op.create_table(
        "outgoing_register",
        sa.Column("office_id", sa.String(length=32), nullable=False),
        sa.Column("notation", sa.String(length=100), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=200), nullable=True),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "office_id", "notation", "year", "number", name=op.f("pk_outgoing_register")
        ),
    )
    conn = op.get_bind()
    _fill_reply_fields(conn)
    _fill_register(conn)


def _fill_reply_fields(conn: sa.Connection) -> None:
    """Code and promulgation date of the rows stored before, read once from their bytes."""
    from edoc_exchange import edxml

    inbox = sa.table(
        "inbox",
        sa.column("id", sa.Integer),
        sa.column("message", sa.LargeBinary),
        sa.column("code", sa.String),
        sa.column("promulgation_date", sa.String),
    )
    ids = list(conn.execute(sa.select(inbox.c.id)).scalars())
    for row_id in ids:
        data = conn.execute(sa.select(inbox.c.message).where(inbox.c.id == row_id)).scalar_one()
        try:
            message: object = edxml.read(bytes(data)).message
        except edxml.EdxmlReadError as exc:
            message = exc.partial.message if exc.partial is not None else None
        except edxml.EdxmlError:
            continue
        if not isinstance(message, edxml.Document):
            continue
        number = message.code.number if message.code and message.code.number else ""
        notation = message.code.notation if message.code and message.code.notation else ""
        date = message.promulgation.date if message.promulgation else None
        conn.execute(
            sa.update(inbox)
            .where(inbox.c.id == row_id)
            .values(
                code=f"{number}/{notation}",
                promulgation_date=date.isoformat() if date is not None else None,
            )
        )


def _fill_register(conn: sa.Connection) -> None:
    """Every number an office's queued documents carry (``OrganId,yyyy/MM/dd,N/Notation``)."""
    outbox = sa.table(
        "outbox",
        sa.column("office_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("document_id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    register = sa.table(
        "outgoing_register",
        sa.column("office_id", sa.String),
        sa.column("notation", sa.String),
        sa.column("year", sa.Integer),
        sa.column("number", sa.Integer),
        sa.column("document_id", sa.String),
        sa.column("reserved_at", sa.DateTime(timezone=True)),
    )
    seen: set[tuple[str, str, int, int]] = set()
    rows = conn.execute(
        sa.select(outbox.c.office_id, outbox.c.document_id, outbox.c.created_at).where(
            outbox.c.kind == "edoc"
        )
    ).all()
    for office_id, document_id, created_at in rows:
        parts = str(document_id).split(",", 2)
        if len(parts) != 3 or parts[0] != office_id:
            continue
        date = _DATE.fullmatch(parts[1])
        number, sep, notation = parts[2].partition("/")
        if date is None or not sep or not number.isdigit() or not notation:
            continue
        key = (office_id, notation, int(date.group(1)), int(number))
        if key in seen:
            continue
        seen.add(key)
        conn.execute(
            sa.insert(register).values(
                office_id=office_id,
                notation=notation,
                year=key[2],
                number=key[3],
                document_id=document_id,
                reserved_at=created_at,
            )
        )


def downgrade() -> None:
    op.drop_table("outgoing_register")
    op.drop_index("ix_inbox_document_id", table_name="inbox")
    op.drop_index("uq_inbox_identity", table_name="inbox")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        # Fails if two senders' documents share a DocumentId: then there is no going back
        # without losing one of them, which is what this revision exists to prevent.
        batch_op.create_unique_constraint(
            "uq_inbox_office_id_document_id_business_doc_type",
            ["office_id", "document_id", "business_doc_type"],
        )
        for column in (
            "identity_finding",
            "promulgation_date",
            "code",
            "signature_xml",
            "signing_time",
            "signer_fingerprint",
            "signer_issuer",
            "message_form",
        ):
            batch_op.drop_column(column)
