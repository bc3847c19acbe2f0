"""The e-governance báo cáo (issue 13 item 6): for a quarter it renders in the decree's
layout, signed by the office, and every figure it prints equals what an independent query
of the store's tables and the audit log gives; the spreadsheet holds the same figures; the
previous quarter stands beside it; the paper counts the clerk enters are checked; a
report written in YAML takes its e-governance figures from the tool.

Real parts: two offices exchange documents through the local axis (the district receives
plans, decisions and letters, some with signed PDFs, one forged; it accepts, assigns and
finishes some on time and some late, and sends its own), real SQLite, pyhanko signing and
validating, pypdf reading the rendered text, openpyxl reading the spreadsheet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES, PROVINCE, make_document
from conftest import EXAMPLES
from cryptography.hazmat.primitives.serialization import Encoding
from daemon_fixtures import Exchange
from incoming_fixtures import real_pdf
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader
from sqlalchemy import select
from typer.testing import CliRunner
from web_fixtures import (
    add_staff,
    csrf_of,
    pages,  # noqa: F401  (fixture)
    signed_in_client,
)

from edoc_exchange import edxml, reports
from edoc_exchange import office as steps
from edoc_exchange.cli import app
from edoc_exchange.compose import ContentError, Report, sign_pdf
from edoc_exchange.office import incoming
from edoc_exchange.sandbox import new_test_identity
from edoc_exchange.store.tables import (
    audit_entries,
    inbox,
    inbox_handling,
    outbox,
    paper_counts,
    pdf_verdicts,
)
from edoc_exchange.vntime import VN_TZ

S = edxml.StatusCode
runner = CliRunner()
QUARTER = "2026-Q4"
START = dt.datetime(2026, 10, 1, tzinfo=VN_TZ)
END = dt.datetime(2027, 1, 1, tzinfo=VN_TZ)
PREVIOUS = (dt.datetime(2026, 7, 1, tzinfo=VN_TZ), START)


def _doc(
    sender: str, to: str, number: str, *, notation: str = "KH-UBND", type_name: str | None,
    attachments: list[edxml.Attachment] | None = None, due: dt.date | None = None,
) -> edxml.Document:
    base = make_document(sender, [to], number, date=dt.date(2026, 10, 20))
    doc_id = edxml.DocumentId(edxml.OrganId.parse(sender), dt.date(2026, 10, 20), number,
                              notation)
    update: dict[str, Any] = {
        "document_id": str(doc_id),
        "code": edxml.Code(number=number, notation=notation),
        "document_type": (
            edxml.DocumentType(type="1", type_name=type_name) if type_name else None
        ),
    }
    if attachments is not None:
        update["attachments"] = attachments
    if due is not None:
        update["due_date"] = due
    return base.model_copy(update=update)


def _pdf(data: bytes, name: str = "van-ban.pdf") -> edxml.Attachment:
    return edxml.Attachment(name=name, content_type="application/pdf", data=data)


def _send(office: steps.Office, docs: list[edxml.Document]) -> None:
    for doc in docs:
        steps.queue_message(office, edxml.write(doc), composed=True)
    assert steps.send_due(office).done >= len(docs)  # with the statuses it owes


@dataclasses.dataclass
class Traffic:
    ex: Exchange
    docs: dict[str, edxml.Document]
    today: dt.date


def _build_traffic(ex: Exchange) -> Traffic:
    """The district's quarter: what it received, handled and sent."""
    district = ex.district
    commune_key = ex.identities[COMMUNE_A].signer()
    people = add_staff(district)
    # The previous quarter: one document arrives in September (the offices' clock).
    now = ex.clock.now
    ex.clock.now = dt.datetime(2026, 9, 15, 3, tzinfo=dt.UTC)
    _send(ex.commune, [_doc(COMMUNE_A, DISTRICT, "5", type_name="Kế hoạch")])
    assert steps.receive_documents(district).done == 1
    ex.clock.now = now
    today = now.astimezone(VN_TZ).date()

    signed = sign_pdf(real_pdf(), commune_key)
    docs = {
        "plan-valid": _doc(COMMUNE_A, DISTRICT, "31", type_name="Kế hoạch",
                           attachments=[_pdf(signed)]),
        "decision-unsigned": _doc(COMMUNE_A, DISTRICT, "32", notation="QĐ-UBND",
                                  type_name="Quyết định", attachments=[_pdf(real_pdf())]),
        "letter-valid": _doc(COMMUNE_A, DISTRICT, "33", notation="UBND-VP", type_name="Công văn",
                             attachments=[_pdf(signed, "cong-van.pdf")]),
        "report-late": _doc(COMMUNE_A, DISTRICT, "34", notation="BC-UBND",
                            type_name="Báo cáo", attachments=[_pdf(real_pdf())]),
        "open-not-due": _doc(COMMUNE_A, DISTRICT, "35", type_name="Kế hoạch",
                             due=today + dt.timedelta(days=20)),
    }
    _send(ex.commune, list(docs.values()))
    assert steps.receive_documents(district).done == len(docs)
    # A forged one: signed by a key the district does not trust, refused (02).
    stranger = new_test_identity(organ_id=COMMUNE_A, name="Kẻ mạo danh")
    forger = dataclasses.replace(ex.commune, signer=stranger.signer())
    _send(forger, [_doc(COMMUNE_A, DISTRICT, "36", type_name="Kế hoạch")])
    steps.receive_documents(district)

    def inbox_id(key: str) -> int:
        with district.db.read() as conn:
            return int(conn.execute(
                select(inbox.c.id).where(inbox.c.document_id == docs[key].document_id)
            ).scalar_one())

    def accept_and_assign(key: str, days: int) -> None:
        steps.mark(district, docs[key].document_id or "", S.ACCEPTED.value)
        incoming.assign(
            district, inbox_id(key), actor=people.leader, assignee_id=people.officer.id,
            deadline=today + dt.timedelta(days=days),
        )

    accept_and_assign("plan-valid", 5)  # done today: on time
    steps.mark(district, docs["plan-valid"].document_id or "", S.DONE.value)
    accept_and_assign("report-late", 1)
    accept_and_assign("decision-unsigned", 2)  # never done: late once the day passed
    ex.clock.advance(days=4)
    steps.mark(district, docs["report-late"].document_id or "", S.DONE.value)  # done late

    # The district sends two of its own: a plan and a report (by their notations).
    _send(district, [
        _doc(DISTRICT, COMMUNE_A, "71", type_name="Kế hoạch"),
        _doc(DISTRICT, COMMUNE_A, "72", notation="BC-UBND", type_name="Báo cáo"),
    ])
    steps.enter_paper_count(district, QUARTER, received=12, sent=5, actor="vanthu")
    steps.enter_paper_count(district, "2026-Q3", received=20, sent=9, actor="vanthu")
    steps.refresh_directory(district)
    return Traffic(ex, docs, ex.clock.now.astimezone(VN_TZ).date())


# --- the independent computation: SQL over the tables and the audit entries ------------------


def _share(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)


def expected(t: Traffic, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Every figure of the báo cáo, from the district's tables and its audit log."""
    district = t.ex.district
    with district.db.read() as conn:
        events = [json.loads(body) for body, in conn.execute(
            select(audit_entries.c.body).where(audit_entries.c.office_id == DISTRICT)
        )]
        rows = conn.execute(
            select(inbox, inbox_handling.c.deadline)
            .select_from(inbox.outerjoin(inbox_handling, inbox_handling.c.inbox_id == inbox.c.id))
            .where(inbox.c.office_id == DISTRICT)
        ).all()
        verdicts = conn.execute(select(pdf_verdicts.c.inbox_id, pdf_verdicts.c.verdict)).all()
        paper = {(r.year, r.quarter, r.direction): int(r._mapping["count"])
                 for r in conn.execute(select(paper_counts))}

    def inside(when: dt.datetime) -> bool:
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return start <= when < end

    def at(event: dict[str, Any]) -> dt.datetime:
        return dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))

    sent = [e for e in events if e["event"] == "sent" and inside(at(e))]
    ours = [r for r in rows if inside(r.received_at)]
    verified = [r for r in ours if r.verdict == "verified"]
    rejected = [r for r in ours if r.verdict == "rejected"]
    by_inbox: dict[int, list[str]] = {}
    for inbox_id, verdict in verdicts:
        by_inbox.setdefault(inbox_id, []).append(verdict)
    pdf_valid = [r for r in verified if by_inbox.get(r.id) and
                 all(v == "valid" for v in by_inbox[r.id])]
    on_time = late = 0
    for r in verified:
        due = r.deadline or r.due_date
        if not due:
            continue
        due_day = dt.date.fromisoformat(due)
        if r.clerk_state == S.DONE.value:
            changed = r.state_changed_at.replace(tzinfo=dt.UTC).astimezone(VN_TZ).date()
            if changed <= due_day:
                on_time += 1
            else:
                late += 1
        elif due_day < t.today:
            late += 1
    quarter = (start.year, (start.month - 1) // 3 + 1)
    paper_out = paper.get((*quarter, "out"))
    paper_in = paper.get((*quarter, "in"))
    waits = sorted(
        (r.accepted_at - r.received_at).total_seconds() / 3600
        for r in verified if r.accepted_at is not None
    )
    median = None
    if waits:
        middle = len(waits) // 2
        value = waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2
        median = Decimal(str(value)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    figures: dict[str, Decimal | None] = {
        "sent_electronic": Decimal(len(sent)),
        "paper_sent": None if paper_out is None else Decimal(paper_out),
        "share_sent_electronic": (
            None if paper_out is None else _share(len(sent), len(sent) + paper_out)
        ),
        "received_electronic": Decimal(len(verified)),
        "paper_received": None if paper_in is None else Decimal(paper_in),
        "share_received_electronic": (
            None if paper_in is None else _share(len(verified), len(verified) + paper_in)
        ),
        "received_rejected": Decimal(len(rejected)),
        "share_xml_valid": _share(len(verified), len(verified) + len(rejected)),
        "received_pdf_valid": Decimal(len(pdf_valid)),
        "share_pdf_valid": _share(len(pdf_valid), len(verified)),
        "handled_on_time": Decimal(on_time),
        "handled_late": Decimal(late),
        "share_on_time": _share(on_time, on_time + late),
        "median_hours_to_acceptance": median,
    }
    return {"figures": figures, "sent": sent, "verified": verified}


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture
def traffic(exchange: Exchange) -> Traffic:
    return _build_traffic(exchange)


def _facts(t: Traffic, number: str | None = "41") -> reports.BaoCaoFacts:
    return reports.default_facts(
        t.ex.district.db, DISTRICT, NAMES[DISTRICT], date=t.today,
        signer_name="Nguyễn Văn Hùng", number=number,
    )


def _pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"\s+", " ", text)


def _figure_rows(text: str) -> dict[str, str]:
    """label -> printed value of each row of the figures table: ``N <label> (nguồn: …)
    <value> <unit>``."""
    found: dict[str, str] = {}
    for spec in reports.FIGURES:
        match = re.search(
            re.escape(spec.label) + r" \(nguồn: [^)]*\) ([0-9.,]+) " + re.escape(spec.unit),
            text,
        )
        if match:
            found[spec.key] = match.group(1)
    return found


def test_the_bao_cao_of_a_quarter_prints_the_figures_of_the_store_and_the_log(
    traffic: Traffic,
) -> None:
    t = traffic
    want = expected(t, START, END)
    figures = want["figures"]
    # the traffic is what it was meant to be (the expected values are not all zero)
    assert figures["sent_electronic"] == 2
    assert figures["received_electronic"] == 5
    assert figures["received_rejected"] == 1
    assert (figures["handled_on_time"], figures["handled_late"]) == (1, 2)
    assert figures["received_pdf_valid"] == 2

    built = reports.build(t.ex.district.db, reports.Period.parse(QUARTER), _facts(t),
                          today=t.today)
    assert reports.figure_values(built.report) == figures
    rendered = steps.render_report_yaml(t.ex.district, reports.to_yaml(built.content))
    assert rendered.signed
    text = _pdf_text(rendered.pdf)

    # the decree's layout: header, number and date, title, the period in words
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text
    assert NAMES[PROVINCE].upper() in text  # the parent body above the office
    assert NAMES[DISTRICT].upper() in text
    assert "Số: 41/BC-UBND" in text
    assert f"ngày {t.today.day:02d} tháng {t.today.month:02d} năm {t.today.year}" in text
    assert "BÁO CÁO" in text
    assert "Quý IV năm 2026" in text
    assert "Nơi nhận:" in text
    assert f"- {NAMES[PROVINCE]};" in text
    assert "Nguyễn Văn Hùng" in text
    assert "CHỦ TỊCH" in text
    # every figure printed, with its unit, equal to the independent computation
    printed = _figure_rows(text)
    for key, value in figures.items():
        if value is None:
            assert key not in printed
            continue
        assert printed.get(key) == reports.vn_number(value), (key, printed, value)
    # counts by type, by name (not code): from the verified documents and the sent events
    received_types = Counter(r.doc_type for r in want["verified"])
    assert received_types == Counter(built.report.received_by_type)
    assert received_types["Công văn"] == 1
    assert "Kế hoạch: 1 văn bản đi, 2 văn bản đến" in text
    assert "Báo cáo: 1 văn bản đi, 1 văn bản đến" in text
    assert "Quyết định: 0 văn bản đi, 1 văn bản đến" in text
    # states in words, not codes, and the office by name
    assert S.ASSIGNED.vi in text
    assert DISTRICT not in text.replace("Số:", "")

    # the PDF carries a valid PAdES signature by the district's key
    reader = PdfFileReader(io.BytesIO(rendered.pdf))
    [embedded] = reader.embedded_signatures
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    ca = t.ex.identities[DISTRICT].ca_cert
    root = asn1_x509.Certificate.load(ca.public_bytes(Encoding.DER))
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[root]))
    details = status.pretty_print_details()  # type: ignore[no-untyped-call]
    assert status.intact, details
    assert status.valid, details
    assert status.trusted, details


def test_the_previous_quarter_stands_beside_it(traffic: Traffic) -> None:
    t = traffic
    built = reports.build(t.ex.district.db, reports.Period.parse(QUARTER), _facts(t),
                          today=t.today)
    before = expected(t, *PREVIOUS)["figures"]
    now = expected(t, START, END)["figures"]
    assert before["received_electronic"] == 1  # September's document
    assert reports.figure_values(built.previous) == before
    changes = {c.key: c for c in reports.comparison(built.report, built.previous)}
    for key in now:
        assert changes[key].current == now[key]
        assert changes[key].previous == before[key]
    text = _pdf_text(steps.render_report_yaml(
        t.ex.district, reports.to_yaml(built.content)).pdf)
    assert "SO SÁNH VỚI QUÝ III NĂM 2026" in text
    received = now["received_electronic"]
    assert received is not None
    line = (
        f"Văn bản đến nhận điện tử qua trục liên thông: {received} văn bản (Quý III năm 2026: "
        f"1 văn bản; tăng {received - 1} văn bản)"
    )
    assert line in text


def test_the_spreadsheet_holds_the_same_figures(traffic: Traffic, tmp_path: Path) -> None:
    t = traffic
    built = reports.build(t.ex.district.db, reports.Period.parse(QUARTER), _facts(t),
                          today=t.today)
    data = reports.xlsx(built.report, names=built.names, previous=built.previous,
                        period_words=("Quý IV năm 2026", "Quý III năm 2026"))
    book = openpyxl.load_workbook(io.BytesIO(data))
    summary = {row[1]: row[2] for row in book["Tong hop"].iter_rows(values_only=True)}
    figures = expected(t, START, END)["figures"]
    assert summary["Documents sent"] == figures["sent_electronic"]
    assert summary["Documents received"] == figures["received_electronic"]
    assert summary["Sent on paper (entered)"] == figures["paper_sent"]
    for key, label in (("share_sent_electronic", "Share sent electronically"),
                       ("share_on_time", "Share handled on time"),
                       ("share_xml_valid", "Share with a valid XML signature")):
        value = figures[key]
        assert value is not None
        shown = Decimal(str(summary[label])) * 100
        assert shown.quantize(Decimal("0.1"), ROUND_HALF_UP) == value
    kinds = {r[0]: (r[1], r[2]) for r in book["Theo loai"].iter_rows(min_row=2, values_only=True)}
    assert kinds["Kế hoạch"] == (1, 2)
    compared = {r[0]: r[1:4] for r in book["So sanh"].iter_rows(min_row=2, values_only=True)}
    label = "Văn bản đến nhận điện tử qua trục liên thông"
    received = figures["received_electronic"]
    assert received is not None
    assert compared[label] == (float(received), 1.0, float(received) - 1)


def test_the_command_line_renders_signs_and_writes_each_form(
    traffic: Traffic, tmp_path: Path
) -> None:
    t = traffic
    keys = tmp_path / "keys"
    t.ex.identities[DISTRICT].write(keys)
    config = tmp_path / "edoc.toml"
    config.write_text(
        f'[office]\norgan_id = "{DISTRICT}"\nname = "{NAMES[DISTRICT]}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "district.sqlite3"}"\n'
        f'[signing]\nkey = "{keys / "signer.key.pem"}"\ncert = "{keys / "signer.pem"}"\n',
        encoding="utf-8",
    )
    pdf = tmp_path / "bao-cao.pdf"
    result = runner.invoke(app, ["report", "egov", "--quarter", QUARTER, "--format", "pdf",
                                 "--number", "42", "--signer-name", "Nguyễn Văn Hùng",
                                 "-o", str(pdf), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "signed" in result.output
    text = _pdf_text(pdf.read_bytes())
    assert "Số: 42/BC-UBND" in text
    assert "Quý IV năm 2026" in text
    assert len(PdfFileReader(io.BytesIO(pdf.read_bytes())).embedded_signatures) == 1

    # issued: numbered from the register, signed and queued to the province like any report
    issued = tmp_path / "issued.pdf"
    result = runner.invoke(app, ["report", "egov", "--quarter", QUARTER, "--format", "pdf",
                                 "--queue", "--signer-name", "Nguyễn Văn Hùng",
                                 "-o", str(issued), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "outbox #" in result.output
    assert re.search(r"Số: \d+/BC-UBND", _pdf_text(issued.read_bytes()))
    assert len(PdfFileReader(io.BytesIO(issued.read_bytes())).embedded_signatures) == 1
    document_id = result.output.split(": ", 1)[1].split(", ")[0]
    with t.ex.district.db.read() as conn:
        [recipients] = conn.execute(
            select(outbox.c.recipients).where(outbox.c.document_id == document_id)
        ).scalars()
    assert json.loads(recipients) == [PROVINCE]

    sheet = tmp_path / "bao-cao.xlsx"
    result = runner.invoke(app, ["report", "egov", "--quarter", QUARTER, "--xlsx",
                                 "-o", str(sheet), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "So sanh" in openpyxl.load_workbook(sheet).sheetnames

    yaml_file = tmp_path / "bao-cao.yaml"
    result = runner.invoke(app, ["report", "egov", "--year", "2026", "--format", "yaml",
                                 "-o", str(yaml_file), "-c", str(config)])
    assert result.exit_code == 0, result.output
    written = yaml_file.read_text(encoding="utf-8")
    assert "label: Năm 2026" in written
    # the clerk composes it as any report: a preview without a number
    out = tmp_path / "bao-cao.edxml"
    result = runner.invoke(app, ["compose", str(yaml_file), "-o", str(out), "--pdf",
                                 str(tmp_path / "preview.pdf"), "-c", str(config)])
    assert result.exit_code == 0, result.output
    # a whole year has no paper share unless every quarter has a count
    assert "chưa nhập số văn bản giấy (2026-Q1, 2026-Q2)" in written

    result = runner.invoke(app, ["report", "paper", "--quarter", "2026-Q3", "--received",
                                 "7", "-c", str(config)])
    assert result.exit_code == 0, result.output

    # a report written in YAML takes its e-governance figures from the tool
    example = (EXAMPLES / "bao-cao-papi-quy-3.yaml").read_text(encoding="utf-8")
    mine = tmp_path / "bao-cao-quy-4.yaml"
    mine.write_text(
        example.replace("start: 2020-07-01", "start: 2026-10-01")
        .replace("end: 2020-09-30", "end: 2026-12-31")
        .replace("organ_id: 000.12.05.H38\n  place", f"organ_id: {DISTRICT}\n  place"),
        encoding="utf-8",
    )
    preview = tmp_path / "quy-4.pdf"
    result = runner.invoke(app, ["compose", str(mine), "--egov", QUARTER, "-o",
                                 str(tmp_path / "quy-4.edxml"), "--pdf", str(preview),
                                 "-c", str(config)])
    assert result.exit_code == 0, result.output
    received = expected(t, START, END)["figures"]["received_electronic"]
    assert received is not None
    assert _figure_rows(_pdf_text(preview.read_bytes()))["received_electronic"] == (
        reports.vn_number(received)
    )
    result = runner.invoke(app, ["compose", str(mine), "--egov", "2026-Q3", "-o",
                                 str(tmp_path / "x.edxml"), "-c", str(config)])
    assert result.exit_code == 1
    assert "is not 2026-Q3" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["egov", "--quarter", "2026-Q5", "--format", "yaml"], "period '2026-Q5' is not valid"),
        (["egov", "--quarter", "abc", "--format", "yaml"], "the quarter 'abc' is not valid"),
        (["egov", "--year", "20x6"], "the year '20x6' is not valid"),
        (["egov", "--format", "pdf"], "choose exactly one period"),
        (["egov", "--quarter", QUARTER, "--format", "pdf"], "the pdf format needs -o FILE"),
        (["egov", "--quarter", QUARTER, "--format", "docx"], "format 'docx' is not supported"),
        (["paper", "--quarter", "2026-Q5", "--sent", "3"], "there is no quarter 5"),
        (["paper", "--quarter", "abc", "--sent", "3"], "the quarter 'abc' is not valid"),
        (["paper", "--quarter", "2026-Q4", "--sent=-3"], "must be a whole number from 0"),
        (["paper", "--quarter", "2027-Q1", "--sent", "3"], "a future period"),
        (["paper", "--quarter", "2026-Q4"], "give the paper count"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(
    tmp_path: Path, args: list[str], said: str
) -> None:
    config = tmp_path / "edoc.toml"
    config.write_text(
        f'[office]\norgan_id = "{DISTRICT}"\nname = "{NAMES[DISTRICT]}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "office.sqlite3"}"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["report", *args, "-c", str(config)])
    assert result.exit_code != 0
    assert said in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_entering_a_paper_count_is_an_audit_event_and_replaces_the_old(
    exchange: Exchange,
) -> None:
    district = exchange.district
    steps.enter_paper_count(district, "2026-Q4", received=3, sent=None, actor="vanthu")
    steps.enter_paper_count(district, "2026-q4", received=4, sent=2, actor="quantri")
    with district.db.read() as conn:
        rows = conn.execute(select(paper_counts)).all()
        events = [json.loads(b) for b, in conn.execute(
            select(audit_entries.c.body).where(audit_entries.c.event == "paper_counted"))]
    assert sorted((r.direction, r._mapping["count"], r.entered_by) for r in rows) == [
        ("in", 4, "quantri"), ("out", 2, "quantri")
    ]
    assert [e["data"]["received"] for e in events] == [3, 4]
    with pytest.raises(steps.PaperCountError) as refused:
        steps.enter_paper_count(district, "2026-Q4", received=-1, sent=None)
    assert refused.value.step == "paper.received"


def test_a_period_without_traffic_says_so_instead_of_dividing(exchange: Exchange) -> None:
    district = exchange.district
    facts = reports.default_facts(district.db, DISTRICT, NAMES[DISTRICT],
                                  date=dt.date(2026, 12, 2), signer_name="Nguyễn Văn Hùng")
    built = reports.build(district.db, reports.Period.parse("2026-Q2"), facts,
                          today=dt.date(2026, 12, 2))
    values = reports.figure_values(built.report)
    assert all(values[k] is None for k in values if k.startswith("share_"))
    rendered = steps.render_report_yaml(district, reports.to_yaml(built.content))
    assert not rendered.signed  # no number: a preview
    text = _pdf_text(rendered.pdf)
    assert "Trong Quý II năm 2026 không có văn bản điện tử nào được gửi, nhận" in text
    assert "chưa nhập số văn bản giấy" in text
    assert "100%" not in text
    assert "100 %" not in text


def test_the_example_report_cites_only_figures_the_tool_computes(
    traffic: Traffic, tmp_path: Path
) -> None:
    from ruamel.yaml import YAML

    source = EXAMPLES / "bao-cao-papi-quy-3.yaml"
    tree = YAML(typ="safe").load(source.read_text(encoding="utf-8"))
    [egov] = [r for r in tree["results"] if r["dimension"] == "quan-tri-dien-tu"]
    specs = {s.key: s for s in reports.FIGURES}
    keys = [f.get("egov") for f in egov["figures"]]
    assert keys
    assert all(k in specs for k in keys), keys
    for figure in egov["figures"]:  # each as the tool names it and with its unit
        assert (figure["label"], figure["unit"]) == (
            specs[figure["egov"]].label, specs[figure["egov"]].unit
        )

    # the same report for this quarter, filled by the tool: its figures are the báo cáo's
    text = source.read_text(encoding="utf-8")
    text = text.replace("start: 2020-07-01", "start: 2026-10-01").replace(
        "end: 2020-09-30", "end: 2026-12-31")
    mine = tmp_path / "bao-cao-quy-4.yaml"
    mine.write_text(text, encoding="utf-8")
    period = reports.Period.parse(QUARTER)
    report = reports.egov_report(traffic.ex.district.db, DISTRICT, period, today=traffic.today)
    composed = steps.compose_file(
        mine, db=traffic.ex.district.db, office_id=None, signer=None,
        now=dt.datetime.now(dt.UTC), fill=reports.egov_fill(report, period),
    )
    figures = expected(traffic, START, END)["figures"]
    assert isinstance(composed.content, Report)
    [result] = [r for r in composed.content.results if r.dimension.value == "quan-tri-dien-tu"]
    assert [f.egov for f in result.figures] == keys
    for key, figure in zip(keys, result.figures, strict=True):
        assert figure.value == figures[key], key
        assert figure.unit == specs[key].unit

    # the example's own quarter, on a store without its paper counts: the share that
    # cannot be computed is left out and said, never kept at its old value
    empty = reports.egov_report(traffic.ex.district.db, DISTRICT,
                                reports.Period.parse("2020-Q3"), today=traffic.today)
    old = steps.compose_file(
        source, db=traffic.ex.district.db, office_id=None, signer=None,
        now=dt.datetime.now(dt.UTC),
        fill=reports.egov_fill(empty, reports.Period.parse("2020-Q3")),
    )
    assert isinstance(old.content, Report)
    [result] = [r for r in old.content.results if r.dimension.value == "quan-tri-dien-tu"]
    assert [f.egov for f in result.figures] == ["received_electronic"]
    assert result.figures[0].value == 0
    assert any("Tỷ lệ văn bản đi gửi điện tử: không tính được" in t for t in result.summary)

    # a quarter that is not the report's own is refused
    with pytest.raises(reports.ReportError) as other:
        steps.compose_file(
            source, db=traffic.ex.district.db, office_id=None, signer=None,
            now=dt.datetime.now(dt.UTC), fill=reports.egov_fill(report, period),
        )
    assert other.value.step == "period"

    # a figure left for the tool (no value) cannot be composed without --egov
    bare = tmp_path / "bare.yaml"
    bare.write_text(text.replace("        value: 186\n", ""), encoding="utf-8")
    with pytest.raises(ContentError) as unfilled:
        steps.compose_file(bare, db=traffic.ex.district.db, office_id=None, signer=None,
                           now=dt.datetime.now(dt.UTC))
    [problem] = unfilled.value.problems
    assert "--egov" in problem.en
    assert problem.line is not None


def test_the_page_offers_the_bao_cao_and_takes_the_paper_counts(
    traffic: Traffic, pages: Callable[..., str]  # noqa: F811
) -> None:
    from ruamel.yaml import YAML

    t = traffic
    base = pages(t.ex.district)
    with signed_in_client(base, "vanthu") as client:
        page = client.get("/egov", params={"period": QUARTER})
        assert page.status_code == 200
        assert 'id="egov-paper"' in page.text
        assert 'name="received" inputmode="numeric" size="6" value="12"' in page.text
        assert f"/egov/export?period={QUARTER}&amp;format=pdf" in page.text

        pdf = client.get("/egov/export", params={"period": QUARTER, "format": "pdf"})
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        text = _pdf_text(pdf.content)
        assert "BÁO CÁO" in text
        assert "Quý IV năm 2026" in text
        printed = _figure_rows(text)
        figures = expected(t, START, END)["figures"]
        assert printed["received_electronic"] == reports.vn_number(
            figures["received_electronic"] or Decimal(0)
        )
        source = client.get("/egov/export", params={"period": QUARTER, "format": "yaml"})
        assert source.status_code == 200
        tree = YAML(typ="safe").load(source.text)
        assert tree["kind"] == "report"
        assert tree["period"]["label"] == "Quý IV năm 2026"

        token = csrf_of(client, "/egov")
        saved = client.post(
            "/egov/paper",
            data={"csrf_token": token, "year": "2026", "quarter": "4", "received": "30",
                  "sent": ""},
            headers={"origin": base},
        )
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"/egov?period={QUARTER}&saved=paper"
        shown = client.get(saved.headers["location"]).text
        assert 'value="30"' in shown
        assert "The paper counts are saved." in shown or "Đã lưu số văn bản giấy." in shown
        for bad, said in (("-3", "whole number from 0"), ("abc", "not a whole number")):
            refused = client.post(
                "/egov/paper",
                data={"csrf_token": token, "year": "2026", "quarter": "4", "received": bad},
                headers={"origin": base},
            )
            assert refused.status_code == 400
            assert said in html.unescape(refused.text)
        future = client.post(
            "/egov/paper",
            data={"csrf_token": token, "year": "2027", "quarter": "2", "sent": "1"},
            headers={"origin": base},
        )
        assert future.status_code == 400
        assert "future period" in html.unescape(future.text)
    with t.ex.district.db.read() as conn:
        counts = {(r.direction, int(r._mapping["count"]), r.entered_by)
                  for r in conn.execute(select(paper_counts).where(paper_counts.c.quarter == 4))}
    assert ("in", 30, "vanthu") in counts
    assert ("out", 5, "vanthu") in counts  # left as it was
    with signed_in_client(base, "chutich") as client:
        leader_page = client.get("/egov", params={"period": QUARTER}).text
        assert 'id="egov-paper"' not in leader_page  # lãnh đạo reads, văn thư enters
        token = csrf_of(client, "/egov")
        refused = client.post(
            "/egov/paper",
            data={"csrf_token": token, "year": "2026", "quarter": "4", "received": "1"},
            headers={"origin": base},
        )
        assert refused.status_code == 403
