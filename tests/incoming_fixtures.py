"""Documents that reach the district through the local axis, for the incoming pages' tests:
the commune queues them (signed by send_due), the district receives and verifies them."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from axis_fixtures import DISTRICT
from daemon_fixtures import Exchange
from reportlab.pdfgen.canvas import Canvas

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.store.tables import outbox


def real_pdf(text: str = "Kế hoạch tổ chức Ngày hội Đại đoàn kết") -> bytes:
    """A small real PDF (one page of text) that a browser's viewer opens."""
    out = io.BytesIO()
    canvas = Canvas(out, invariant=True)
    canvas.setFont("Helvetica", 14)
    canvas.drawString(72, 760, text.encode("ascii", "replace").decode())
    canvas.showPage()
    canvas.save()
    return out.getvalue()


SPREADSHEET = b"PK\x03\x04 not really a spreadsheet, but bytes to compare " + bytes(range(256))


def send_document(
    ex: Exchange,
    number: str,
    *,
    subject: str = "Kế hoạch tổ chức Ngày hội Đại đoàn kết",
    due: dt.date | None = None,
    priority: int | None = None,
    attachments: list[edxml.Attachment] | None = None,
    receive: bool = True,
) -> edxml.Document:
    """The commune sends a document to the district; the district receives it."""
    doc = ex.plan(number, subject=subject)
    update: dict[str, Any] = {
        "attachments": attachments
        if attachments is not None
        else [
            edxml.Attachment(name="ke-hoach.pdf", content_type="application/pdf",
                             data=real_pdf()),
            edxml.Attachment(
                name="phụ lục số liệu.xlsx",
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                data=SPREADSHEET,
            ),
        ]
    }
    if due is not None:
        update["due_date"] = due
    if priority is not None:
        update["other_info"] = edxml.OtherInfo(priority=priority)
    doc = doc.model_copy(update=update)
    steps.queue_message(ex.commune, edxml.write(doc), composed=True)
    assert steps.send_due(ex.commune).done >= 1
    if receive:
        got = steps.receive_documents(ex.district)
        assert got.done == 1, got.details
    return doc


def outbox_statuses(ex: Exchange) -> list[tuple[str, str]]:
    """(DocumentId, status code) of every status the district queued, in order."""
    with ex.district.db.read() as conn:
        rows = conn.execute(
            outbox.select().where(outbox.c.kind == "status").order_by(outbox.c.id)
        ).all()
    return [(r.document_id, r.status_code) for r in rows]


def commune_sees(ex: Exchange, document_id: str) -> list[str]:
    """The status codes the commune has recorded from the district for its document."""
    details = steps.document_details(ex.commune.db, ex.commune.office_id, document_id)
    return [h["status_code"] for h in details.history if h["counterpart"] == DISTRICT]
