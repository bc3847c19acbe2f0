"""Outgoing documents at the office level: drafts, approval, issuing, the sent list.

A commune and its district on one local axis with real SQLite stores and real keys; the
commune's directory is fetched from the axis. Every refusal is checked to leave the drafts,
their files, the register and the outbox exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import threading
import zipfile
import zlib
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from axis_fixtures import COMMUNE_A, DISTRICT
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from reportlab.pdfgen import canvas
from web_fixtures import Staff, add_staff

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.office import outgoing, staff
from edoc_exchange.office.outgoing import DraftError, DraftForm, Upload
from edoc_exchange.signing import verify
from edoc_exchange.store import DraftState, OutboxState
from edoc_exchange.store.tables import draft_files, drafts, outbox, outgoing_register


def pdf_bytes(text: str = "Ke hoach to chuc Ngay hoi", pages: int = 1) -> bytes:
    """A real PDF (reportlab), as a scanner or a word processor would give."""
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, invariant=1)
    for n in range(pages):
        sheet.drawString(72, 750, f"{text} - trang {n + 1}")
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx_bytes(text: str = "Phụ lục") -> bytes:
    """A minimal Word document: a zip with its content types and word/document.xml."""
    return _zip({
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.'
                               b'openxmlformats.org/package/2006/content-types"/>',
        "word/document.xml": f'<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p>'
                             f"<w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
                             .encode(),
    })


def xlsx_bytes() -> bytes:
    return _zip({
        "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
        "xl/workbook.xml": b'<?xml version="1.0"?><workbook/>',
    })


def png_bytes() -> bytes:
    """A real 1x1 PNG (a scan, small)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b""))


def form(**overrides: Any) -> DraftForm:
    values: dict[str, Any] = {
        "doc_type": "ke-hoach",
        "notation": "KH-UBND",
        "subject": "Kế hoạch tổ chức Ngày hội Đại đoàn kết toàn dân tộc",
        "recipients": [DISTRICT],
        "priority": "1",
        "due_date": "",
        "place": "Nậm Khánh",
        "signer_competence": "TM. ỦY BAN NHÂN DÂN",
        "signer_position": "CHỦ TỊCH",
        "signer_name": "Nguyễn Văn Hùng",
    }
    values.update(overrides)
    return DraftForm(**values)


def main_pdf() -> Upload:
    return Upload("ke-hoach.pdf", pdf_bytes())


def annexes() -> list[Upload]:
    return [Upload("phu-luc-1.xlsx", xlsx_bytes()), Upload("ban-quet.png", png_bytes())]


def ready(ex: Exchange) -> Staff:
    """The commune's staff, and its directory fetched from the axis."""
    steps.refresh_directory(ex.commune)
    return add_staff(ex.commune)


def snapshot(office: steps.Office) -> dict[str, list[Any]]:
    """What a refused action must leave as it was."""
    with office.db.read() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.select(table).order_by(*table.primary_key))]
            for name, table in (("drafts", drafts), ("files", draft_files),
                                ("register", outgoing_register), ("outbox", outbox))
        }


def events(office: steps.Office, event: str | None = None) -> list[dict[str, Any]]:
    """The office's audit events (of ``event``): their data."""
    with office.db.read() as conn:
        found = list(audit.entries(conn, office.office_id))
    return [e.data["data"] | {"event": e.event} for e in found if event in (None, e.event)]


def approved(ex: Exchange, people: Staff, **overrides: Any) -> int:
    draft = outgoing.create_draft(ex.commune, people.officer, form(**overrides), main_pdf(),
                                  annexes())
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    return draft


def test_a_draft_is_written_approved_issued_sent_and_received(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    draft = outgoing.create_draft(ex.commune, people.officer, form(due_date="2099-12-31"),
                                  main_pdf(), annexes())
    details = outgoing.draft_details(ex.commune, draft)
    assert details.state is DraftState.DRAFT
    assert [f.name for f in details.files] == ["ke-hoach.pdf", "phu-luc-1.xlsx", "ban-quet.png"]
    assert details.files[0].content_type == "application/pdf"
    assert details.created_by == "Vàng A Sính"
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    issued = outgoing.issue_draft(ex.commune, people.clerk, draft)
    assert issued.number == 1
    assert issued.document_id.startswith(f"{COMMUNE_A},")
    assert issued.document_id.endswith(",1/KH-UBND")
    after = outgoing.draft_details(ex.commune, draft)
    assert after.state is DraftState.ISSUED
    assert after.outbox_id == issued.outbox_id
    assert after.approved_by == "Nguyễn Văn Hùng"

    # The queued message: signed by the office, main file first, each with its type.
    with ex.commune.db.read() as conn:
        message = conn.execute(
            sa.select(outbox.c.message).where(outbox.c.id == issued.outbox_id)
        ).scalar_one()
        register = conn.execute(sa.select(outgoing_register)).all()
    verified = verify(bytes(message), ex.commune.trust())
    document = verified.message
    assert isinstance(document, edxml.Document)
    assert [a.name for a in document.attachments] == [
        "ke-hoach.pdf", "phu-luc-1.xlsx", "ban-quet.png"]
    assert next(a.content_type for a in document.attachments) == "application/pdf"
    assert document.attachments[0].data == main_pdf().data
    assert document.subject == form().subject
    assert document.document_type is not None
    assert document.document_type.type_name == "Kế hoạch"
    assert document.other_info is not None
    assert document.other_info.priority == 1
    assert document.due_date == dt.date(2099, 12, 31)
    assert document.signer is not None
    assert document.signer.full_name == "Nguyễn Văn Hùng"
    assert [r.organ_id for r in document.recipients] == [DISTRICT]
    assert [(r.number, r.notation, r.document_id) for r in register] == [
        (1, "KH-UBND", issued.document_id)]

    # The audit log names who did each step.
    changes = [(e["change"], e["by"])
               for e in events(ex.commune, audit.AuditEvent.DRAFT_CHANGED)]
    assert changes == [("created", "chuyenvien"), ("submitted", "chuyenvien"),
                       ("approved", "chutich")]
    issued_events = events(ex.commune, audit.AuditEvent.ISSUED)
    assert issued_events[0]["by"] == "vanthu"
    assert issued_events[0]["number"] == 1

    # Sent over the local axis, received by the district, its statuses followed back.
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    steps.mark(ex.district, issued.document_id, "03")
    steps.send_due(ex.district)
    steps.receive_statuses(ex.commune)
    sent = outgoing.sent_details(ex.commune, people.clerk, issued.outbox_id)
    assert sent.item.summary.state is OutboxState.SENT
    assert [(r.organ_id, r.status_code) for r in sent.item.recipients] == [(DISTRICT, "03")]
    assert sent.item.recipients[0].name == "UBND huyện Bắc Hà"
    assert sent.item.stuck is None
    assert [h["status_code"] for h in sent.history if h["direction"] == "in"][-1] == "03"


def test_numbers_follow_each_other_and_a_number_is_used_once(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    first = outgoing.issue_draft(ex.commune, people.clerk, approved(ex, people))
    second = outgoing.issue_draft(ex.commune, people.clerk, approved(ex, people))
    assert (first.number, second.number) == (1, 2)
    other = outgoing.issue_draft(ex.commune, people.clerk, approved(ex, people, notation="TB-UBND"))
    assert other.number == 1  # each notation has its own sequence

    draft = approved(ex, people)
    before = snapshot(ex.commune)
    with pytest.raises(DraftError) as refused:
        outgoing.issue_draft(ex.commune, people.clerk, draft, number=2)
    assert refused.value.step == "draft.number"
    assert "đã được dùng" in refused.value.vi
    assert snapshot(ex.commune) == before
    assert outgoing.issue_draft(ex.commune, people.clerk, draft, number=7).number == 7
    assert outgoing.issue_draft(ex.commune, people.clerk, approved(ex, people)).number == 8


def test_two_clerks_issuing_at_once_take_different_numbers(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    clerk2 = staff.add_user(ex.commune.db, ex.commune.office_id, "vanthu2", "Lò Văn Tú",
                            staff.Role.CLERK, "mat-khau-du-dai-2026")
    ids = [approved(ex, people) for _ in range(6)]
    results: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def issue(clerk: staff.User, mine: list[int]) -> None:
        start.wait()
        for draft in mine:
            try:
                results.append(outgoing.issue_draft(ex.commune, clerk, draft).number)
            except BaseException as exc:
                failures.append(exc)

    workers = [threading.Thread(target=issue, args=(people.clerk, ids[::2])),
               threading.Thread(target=issue, args=(clerk2, ids[1::2]))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not failures, failures
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    with ex.commune.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one() == 6


def test_issuing_the_same_draft_twice_is_refused(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    draft = approved(ex, people)
    outgoing.issue_draft(ex.commune, people.clerk, draft)
    before = snapshot(ex.commune)
    with pytest.raises(DraftError) as refused:
        outgoing.issue_draft(ex.commune, people.clerk, draft)
    assert refused.value.step == "draft.state"
    assert "Đã phát hành" in refused.value.vi
    with pytest.raises(DraftError):
        outgoing.approve_draft(ex.commune, people.leader, draft)
    assert snapshot(ex.commune) == before


def test_actions_in_the_wrong_state_change_nothing(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    draft = outgoing.create_draft(ex.commune, people.officer, form(), main_pdf())
    before = snapshot(ex.commune)
    for action in (
        lambda: outgoing.approve_draft(ex.commune, people.leader, draft),  # not submitted
        lambda: outgoing.issue_draft(ex.commune, people.clerk, draft),  # not approved
        lambda: outgoing.return_draft(ex.commune, people.leader, draft, "sửa lại"),
    ):
        with pytest.raises(DraftError) as refused:
            action()
        assert refused.value.step == "draft.state"
    assert snapshot(ex.commune) == before
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    before = snapshot(ex.commune)
    with pytest.raises(DraftError) as refused:  # an approved draft cannot be edited
        outgoing.update_draft(ex.commune, people.officer, draft, form(subject="Khác"))
    assert refused.value.step == "draft.state"
    with pytest.raises(DraftError):
        outgoing.submit_draft(ex.commune, people.officer, draft)
    assert snapshot(ex.commune) == before


def test_a_returned_draft_carries_the_note_and_can_be_edited(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    draft = outgoing.create_draft(ex.commune, people.officer, form(), main_pdf(), annexes())
    outgoing.submit_draft(ex.commune, people.officer, draft)
    with pytest.raises(DraftError) as empty:
        outgoing.return_draft(ex.commune, people.leader, draft, "  ")
    assert empty.value.step == "draft.note"
    outgoing.return_draft(ex.commune, people.leader, draft, "Bổ sung kinh phí")
    details = outgoing.draft_details(ex.commune, draft)
    assert details.state is DraftState.DRAFT
    assert details.fields["return_note"] == "Bổ sung kinh phí"
    outgoing.update_draft(ex.commune, people.officer, draft, form(subject="Kế hoạch (sửa)"),
                          main=Upload("ke-hoach-2.docx", docx_bytes()))
    details = outgoing.draft_details(ex.commune, draft)
    assert details.fields["subject"] == "Kế hoạch (sửa)"
    assert [f.name for f in details.files] == ["ke-hoach-2.docx", "phu-luc-1.xlsx",
                                               "ban-quet.png"]
    returned = [e for e in events(ex.commune, audit.AuditEvent.DRAFT_CHANGED)
                if e["change"] == "returned"]
    assert returned[0]["note"] == "Bổ sung kinh phí"
    assert returned[0]["by"] == "chutich"


def test_roles_are_checked_by_the_office(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    with pytest.raises(DraftError) as refused:
        outgoing.create_draft(ex.commune, people.admin, form(), main_pdf())
    assert refused.value.step == "draft.role"
    draft = outgoing.create_draft(ex.commune, people.officer, form(), main_pdf())
    outgoing.submit_draft(ex.commune, people.officer, draft)
    before = snapshot(ex.commune)
    for who in (people.officer, people.clerk, people.admin):
        with pytest.raises(DraftError):
            outgoing.approve_draft(ex.commune, who, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    for who in (people.officer, people.leader, people.admin):
        with pytest.raises(DraftError):
            outgoing.issue_draft(ex.commune, who, draft)
    assert snapshot(ex.commune)["register"] == before["register"]
    assert snapshot(ex.commune)["outbox"] == before["outbox"]


BAD_INPUTS = [
    ("subject", {"form": form(subject="   ")}, "draft.subject"),
    ("subject too long", {"form": form(subject="x" * 501)}, "draft.subject"),
    ("no recipient", {"form": form(recipients=[])}, "draft.recipients"),
    ("unknown recipient", {"form": form(recipients=[DISTRICT, "000.99.99.H99"])},
     "draft.recipients"),
    ("type", {"form": form(doc_type="thu-tay")}, "draft.doc_type"),
    ("notation", {"form": form(notation="KH/UBND")}, "draft.notation"),
    ("priority", {"form": form(priority="9")}, "draft.priority"),
    ("due date", {"form": form(due_date="31/12/2099")}, "draft.due_date"),
    ("past due date", {"form": form(due_date="2001-01-01")}, "draft.due_date"),
    ("signer", {"form": form(signer_name="")}, "draft.signer_name"),
    ("no main file", {"main": None}, "draft.main_file"),
    ("main not pdf/docx", {"main": Upload("bang.xlsx", xlsx_bytes())}, "draft.main_file"),
    ("pdf that is not", {"main": Upload("ke-hoach.pdf", b"<html>not a pdf</html>")},
     "draft.main_file"),
    ("cut pdf", {"main": Upload("ke-hoach.pdf", pdf_bytes()[:-200])}, "draft.main_file"),
    ("corrupt pdf", {"main": Upload(
        "ke-hoach.pdf", b"%PDF-1.4\n" + b"rubbish " * 200 + b"\nstartxref\n9\n%%EOF\n")},
     "draft.main_file"),
    ("docx that is a pdf", {"main": Upload("ke-hoach.docx", pdf_bytes())}, "draft.main_file"),
    ("corrupt docx", {"main": Upload("ke-hoach.docx", docx_bytes()[:-40])}, "draft.main_file"),
    ("docx without document", {"main": Upload("ke-hoach.docx", xlsx_bytes())},
     "draft.main_file"),
    ("empty file", {"main": Upload("ke-hoach.pdf", b"")}, "draft.main_file"),
    ("path in name", {"attachments": [Upload("../../etc/x.pdf", pdf_bytes())]},
     "draft.attachments[1]"),
    ("windows path", {"attachments": [Upload("C:\\Users\\x.pdf", pdf_bytes())]},
     "draft.attachments[1]"),
    ("folder in name", {"attachments": [Upload("a/b.png", png_bytes())]},
     "draft.attachments[1]"),
    ("unknown kind", {"attachments": [Upload("chay.exe", b"MZ" * 100)]},
     "draft.attachments[1]"),
    ("png that is not", {"attachments": [Upload("scan.png", b"GIF89a" * 10)]},
     "draft.attachments[1]"),
    ("second bad", {"attachments": [Upload("a.png", png_bytes()),
                                     Upload("b.xlsx", b"PK\x03\x04 broken")]},
     "draft.attachments[2]"),
    ("same names", {"attachments": [Upload("a.png", png_bytes()),
                                     Upload("A.png", png_bytes())]}, "draft.attachments"),
    ("too large", {"main": Upload("ke-hoach.pdf", pdf_bytes()), "max_file_bytes": 100},
     "draft.main_file"),
    ("cut at the bound", {"main": Upload("ke-hoach.pdf", pdf_bytes(), truncated=True)},
     "draft.main_file"),
]


@pytest.mark.parametrize(("case", "given", "step"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_naming_its_field_with_nothing_stored(
    exchange: Exchange, case: str, given: dict[str, Any], step: str  # noqa: F811
) -> None:
    ex = exchange
    people = ready(ex)
    before = snapshot(ex.commune)
    audit_size = len(events(ex.commune))
    arguments: dict[str, Any] = {"form": form(), "main": main_pdf(), "attachments": []}
    arguments.update(given)
    limit = arguments.pop("max_file_bytes", outgoing.DEFAULT_MAX_FILE_BYTES)
    with pytest.raises(DraftError) as refused:
        outgoing.create_draft(ex.commune, people.officer, arguments["form"], arguments["main"],
                              arguments["attachments"], max_file_bytes=limit)
    assert refused.value.step == step
    assert refused.value.vi
    assert refused.value.en
    assert snapshot(ex.commune) == before
    assert len(events(ex.commune)) == audit_size


def test_the_structure_check_stands_without_pyhanko() -> None:
    assert outgoing.pdf_structure_problem(pdf_bytes()) is None
    assert "%PDF-" in (outgoing.pdf_structure_problem(b"hello") or "")
    assert "%%EOF" in (outgoing.pdf_structure_problem(pdf_bytes()[:-300]) or "")
    # What only pyhanko's reader sees: a header and trailer around rubbish.
    rubbish = b"%PDF-1.4\n" + b"x" * 500 + b"\nstartxref\n9\n%%EOF\n"
    assert outgoing.pdf_structure_problem(rubbish) is None
    with pytest.raises(DraftError):
        outgoing.check_file(Upload("x.pdf", rubbish), "main_file", main=True)


def test_a_failed_document_is_resent_and_the_list_says_why_it_is_stuck(
    exchange: Exchange,  # noqa: F811
) -> None:
    ex = exchange
    people = ready(ex)
    issued = outgoing.issue_draft(ex.commune, people.clerk, approved(ex, people))
    page = outgoing.sent_list(ex.commune, people.clerk)
    assert [i.summary.id for i in page.items] == [issued.outbox_id]
    assert page.items[0].state_name == ("Chờ gửi", "queued")
    assert page.items[0].stuck is None
    with pytest.raises(DraftError) as not_failed:
        outgoing.resend(ex.commune, people.clerk, issued.outbox_id)
    assert not_failed.value.step == "outgoing.state"

    # Queued for long without a daemon: said in words.
    ex.clock.advance(hours=1)
    stuck = outgoing.sent_list(ex.commune, people.clerk).items[0].stuck
    assert stuck is not None
    assert "edoc daemon run" in stuck[0]

    # The axis refuses it (as a validation answer would): failed, with the axis's words.
    with ex.commune.db.transaction() as conn:
        conn.execute(sa.update(outbox).where(outbox.c.id == issued.outbox_id).values(
            state=OutboxState.FAILED, attempts=3, last_error="axis said: OrganId sai"))
    item = outgoing.sent_list(ex.commune, people.clerk).items[0]
    assert item.resendable
    assert item.stuck is not None
    assert "OrganId sai" in item.stuck[0]
    for who in (people.officer, people.admin):
        with pytest.raises(DraftError):
            outgoing.resend(ex.commune, who, issued.outbox_id)
    outgoing.resend(ex.commune, people.clerk, issued.outbox_id)
    with ex.commune.db.read() as conn:
        row = conn.execute(sa.select(outbox).where(outbox.c.id == issued.outbox_id)).one()
    assert (row.state, row.attempts) == (OutboxState.QUEUED, 0)
    resent = events(ex.commune, audit.AuditEvent.RESENT)
    assert resent[0]["by"] == "vanthu"
    assert resent[0]["previous_error"] == "axis said: OrganId sai"
    # ... and it goes.
    assert steps.send_due(ex.commune).done == 1
    assert outgoing.sent_list(ex.commune, people.clerk).items[0].summary.state is OutboxState.SENT


def test_a_refusal_shows_the_recipients_reason(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    issued = outgoing.issue_draft(ex.commune, people.clerk, approved(ex, people))
    steps.send_due(ex.commune)
    steps.receive_documents(ex.district)
    steps.mark(ex.district, issued.document_id, "02", "Sai thẩm quyền giải quyết")
    steps.send_due(ex.district)
    steps.receive_statuses(ex.commune)
    recipient = outgoing.sent_details(ex.commune, people.clerk, issued.outbox_id).item.recipients[0]
    assert recipient.refused
    assert recipient.reason is not None
    assert "Sai thẩm quyền giải quyết" in recipient.reason


def test_recipients_are_found_without_accents(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    ready(ex)
    found = outgoing.recipient_choices(ex.commune, "bac ha")
    assert (DISTRICT, "UBND huyện Bắc Hà") in found
    assert all("Bắc Hà" in name for _, name in found)
    assert len(outgoing.recipient_choices(ex.commune, "")) >= 3


def test_another_offices_user_reads_nothing(exchange: Exchange) -> None:  # noqa: F811
    ex = exchange
    people = ready(ex)
    stranger = replace(people.clerk, office_id=DISTRICT)
    with pytest.raises(DraftError):
        outgoing.sent_list(ex.commune, stranger)
    with pytest.raises(DraftError):
        outgoing.create_draft(ex.commune, stranger, form(), main_pdf())
