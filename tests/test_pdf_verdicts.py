"""The receiver checks the document itself (issue 13 item 4): each PDF attachment's own
signatures are validated on receipt under the district's trust roots, the verdict is stored
beside the document, shown by ``edoc status``, on the incoming page and in the
e-governance figures; whatever the PDF says, the document is stored and acknowledged.

Real parts: the commune composes and PAdES-signs the seed plan, both offices exchange it
through the local axis, pyhanko validates what arrived.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES
from conftest import EXAMPLES
from daemon_fixtures import Exchange
from incoming_fixtures import real_pdf, send_document
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pypdf import PdfReader, PdfWriter

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.axis import MessageType
from edoc_exchange.cli.office import _pdf_line
from edoc_exchange.compose import sign_pdf
from edoc_exchange.compose.pdfcheck import PdfVerdict, check_pdf, is_pdf
from edoc_exchange.reports.egov import Period, egov_report
from edoc_exchange.sandbox import new_test_identity
from edoc_exchange.store import InboxVerdict
from edoc_exchange.store import directory as directory_store
from edoc_exchange.store import inbox as inbox_store

PLAN = EXAMPLES / "ke-hoach-papi-2020.yaml"


def _pdf_attachment(data: bytes, name: str = "van-ban.pdf") -> edxml.Attachment:
    return edxml.Attachment(name=name, content_type="application/pdf", data=data)


def _tampered(signed: bytes) -> bytes:
    """``signed`` with an incremental update after the signature that replaces the first
    page's content (the attack the diff analysis must catch)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (So tien: 900.000.000) Tj ET")
    )
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _encrypted(pdf: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password="mat-khau", owner_password="chu-so-huu", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stored(ex: Exchange, doc: edxml.Document) -> inbox_store.InboxRow:
    """The district's row of ``doc``: stored verified, and acknowledged at the axis."""
    with ex.district.db.read() as conn:
        row = inbox_store.find_incoming(conn, ex.district.office_id, document_id=doc.document_id)
        events = [e.event for e in audit.entries(conn, ex.district.office_id)]
    assert row is not None
    assert row.verdict is InboxVerdict.VERIFIED
    assert "acknowledged" in events
    assert ex.district.axis.list_received(MessageType.EDOC) == []
    return row


def _verdicts(ex: Exchange, doc: edxml.Document) -> list[steps.PdfVerdictRow]:
    details = steps.document_details(ex.district.db, DISTRICT, doc.document_id or "")
    return list(details.pdf_verdicts)


def _seed_plan(ex: Exchange, tmp_path: Path) -> Path:
    """The seed plan, issued by the fixture's commune to the fixture's district."""
    text = PLAN.read_text(encoding="utf-8")
    text = text.replace("000.12.05.H38", COMMUNE_A).replace("000.00.05.H38", DISTRICT)
    path = tmp_path / "ke-hoach.yaml"
    path.write_text(text, encoding="utf-8")
    with ex.commune.db.transaction() as conn:
        directory_store.replace_all(
            conn,
            [
                directory_store.Organisation(o, NAMES[o], None, "{}")
                for o in (COMMUNE_A, DISTRICT)
            ],
            dt.datetime.now(dt.UTC),
        )
    return path


def test_the_composed_plan_arrives_with_a_valid_pdf_signature(
    exchange: Exchange, tmp_path: Path
) -> None:
    ex = exchange
    queued = steps.compose_and_queue(ex.commune, _seed_plan(ex, tmp_path))
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    row = _stored(ex, queued.composed.message)

    [verdict] = _verdicts(ex, queued.composed.message)
    assert verdict.verdict == "valid", verdict.details
    assert verdict.name.endswith(".pdf")
    assert verdict.reason is None
    [sig] = verdict.signatures
    assert sig["signer"] == NAMES[COMMUNE_A]  # the commune's test certificate
    assert sig["intact"]
    assert sig["trusted"]
    assert sig["coverage"] == "entire_file"
    assert sig["revocation"] == "not checked"
    signed_at = dt.datetime.fromisoformat(sig["signed_at"])
    assert abs(signed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)

    # the document's VERIFIED audit event says what was found (no second event)
    with ex.district.db.read() as conn:
        found = list(audit.entries(conn, ex.district.office_id))
    assert not [e for e in found if e.event == "pdf_checked"]
    [event] = [e for e in found if e.event == "verified"]
    assert event.data["data"]["pdf_signatures"] == [
        {"name": verdict.name, "verdict": "valid", "reason": None}
    ]
    # the status line says who signed and that revocation was not checked
    line = _pdf_line(verdict)
    assert line.startswith("hợp lệ / valid")
    assert NAMES[COMMUNE_A] in line
    assert "not checked" in line

    # counted in the e-governance figures: 1 of 1 received documents
    period = Period.parse(str(row.received_at.year))
    report = egov_report(ex.district.db, DISTRICT, period)
    assert (report.received_total, report.received_pdf_valid) == (1, 1)
    assert report.to_json()["share_pdf_valid"] == 1.0


def test_each_bad_pdf_has_its_verdict_and_the_document_is_still_kept(
    exchange: Exchange,
) -> None:
    ex = exchange
    commune_key = ex.identities[COMMUNE_A].signer()
    stranger = new_test_identity(organ_id="000.00.99.H99", name="Tổ chức lạ")
    signed = sign_pdf(real_pdf(), commune_key)
    cases = {
        "unsigned": real_pdf(),
        "invalid": _tampered(signed),
        "untrusted": sign_pdf(real_pdf(), stranger.signer()),
        "error": b"%PDF-1.7 not really a PDF " + bytes(range(256)),
        "encrypted": _encrypted(real_pdf()),
    }
    docs = {
        kind: send_document(ex, str(20 + n), attachments=[_pdf_attachment(data, f"{kind}.pdf")])
        for n, (kind, data) in enumerate(cases.items())
    }
    found = {}
    for kind, doc in docs.items():
        _stored(ex, doc)
        [verdict] = _verdicts(ex, doc)
        assert verdict.name == f"{kind}.pdf"
        found[kind] = verdict
    assert found["unsigned"].verdict == "unsigned"
    assert found["unsigned"].signatures == []
    assert found["invalid"].verdict == "invalid"
    assert "changed after it was signed" in (found["invalid"].reason or "")
    assert found["invalid"].signatures[0]["intact"]  # the signed revision itself is intact
    assert found["untrusted"].verdict == "untrusted"
    assert found["untrusted"].signatures[0]["signer"] == "Tổ chức lạ"
    assert found["untrusted"].signatures[0]["trusted"] is False
    assert found["error"].verdict == "error"
    assert "not a readable PDF" in (found["error"].reason or "")
    assert found["encrypted"].verdict == "error"
    assert "encrypted" in (found["encrypted"].reason or "")

    # none of them counts as a document with a valid signature
    report = egov_report(ex.district.db, DISTRICT, Period.parse(str(dt.date.today().year)))
    assert report.received_total == len(cases)
    assert report.received_pdf_valid == 0
    assert report.to_json()["share_pdf_valid"] == 0.0


def test_only_pdfs_are_checked_and_all_must_be_valid(exchange: Exchange) -> None:
    ex = exchange
    signed = sign_pdf(real_pdf(), ex.identities[COMMUNE_A].signer())
    both = send_document(
        ex,
        "30",
        attachments=[
            _pdf_attachment(signed, "ky.pdf"),
            edxml.Attachment(name="ghi-chu.txt", content_type="text/plain", data=b"ghi chu"),
            edxml.Attachment(name="PHU-LUC.PDF", content_type="application/octet-stream",
                             data=real_pdf()),
        ],
    )
    verdicts = _verdicts(ex, both)
    assert [(v.position, v.name, v.verdict) for v in verdicts] == [
        (0, "ky.pdf", "valid"),
        (2, "PHU-LUC.PDF", "unsigned"),
    ]
    none = send_document(
        ex,
        "31",
        attachments=[edxml.Attachment(name="a.txt", content_type="text/plain", data=b"x")],
    )
    assert _verdicts(ex, none) == []  # nothing to check, nothing stored
    report = egov_report(ex.district.db, DISTRICT, Period.parse(str(dt.date.today().year)))
    assert (report.received_total, report.received_pdf_valid) == (2, 0)


def test_a_failing_check_loses_nothing(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check that blows up (a bug, a store error) leaves the document stored and
    acknowledged, without a verdict; checking again later stores it."""
    ex = exchange
    from edoc_exchange.office import pdfchecks

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the checker broke")

    monkeypatch.setattr(pdfchecks, "check_pdf", broken)
    doc = send_document(ex, "40", attachments=[_pdf_attachment(real_pdf())])
    row = _stored(ex, doc)
    assert _verdicts(ex, doc) == []
    monkeypatch.undo()
    [again] = steps.check_pdfs(ex.district, row.id)
    assert again.verdict == "unsigned"
    assert [v.verdict for v in _verdicts(ex, doc)] == ["unsigned"]
    # a second check replaces the first, never adds to it
    steps.check_pdfs(ex.district, row.id)
    assert len(_verdicts(ex, doc)) == 1


def test_check_pdf_bounds_and_refusals() -> None:
    ca = new_test_identity(organ_id=COMMUNE_A, name=NAMES[COMMUNE_A])
    roots = [ca.ca_cert]
    pdf = real_pdf()
    too_big = check_pdf(pdf, roots, max_bytes=len(pdf) - 1)
    assert too_big.verdict is PdfVerdict.ERROR
    assert "too large" in (too_big.reason or "")
    assert "not a PDF" in (check_pdf(b"GIF89a....", roots).reason or "")
    assert check_pdf(b"", roots).verdict is PdfVerdict.ERROR
    truncated = sign_pdf(pdf, ca.signer())
    assert check_pdf(truncated[: len(truncated) // 2], roots).verdict is PdfVerdict.ERROR
    # a signature whose bytes were changed inside the signed range: not intact
    signed = sign_pdf(pdf, ca.signer())
    at = signed.index(b"Helvetica")
    forged = signed[:at] + b"Helvetico" + signed[at + 9 :]
    broken = check_pdf(forged, roots)
    assert broken.verdict is PdfVerdict.INVALID, broken
    assert broken.signatures[0].intact is False
    assert check_pdf(signed, roots).verdict is PdfVerdict.VALID
    assert is_pdf("a.PDF", None)
    assert is_pdf("a", "application/pdf; charset=binary")
    assert not is_pdf("a.docx", "application/octet-stream")
