"""The official SDK samples (read from ../shared): kinds, fields, warnings and round trips."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edoc_exchange import edxml
from edoc_exchange.edxml import Document, EdxmlReadError, ReadResult, StatusMessage

DOCUMENTS = {
    # file: (DocumentId, From, first To, BussinessDocType, attachment name, warning codes)
    "edoc_new.edxml": (
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "002.00.20.H13",
        "28.22.H17",
        0,
        "1896_QD-TTg_m_294779.doc",
        # Bussiness/DocumentId names another organisation's document (with an impossible
        # date): echoed as sent, a warning in every mode.
        {"stray-bytes", "legacy-signature", "bad-organ-id", "foreign-document-id"},
    ),
    "edoc_revocation.edxml": (
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "000.00.00.G22",
        "000.00.00.H41",
        1,
        "1896_QD-TTg_m_294779.doc",
        {"legacy-signature"},
    ),
    "edoc_update.edxml": (
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "000.00.00.G22",
        "000.00.00.H41",
        2,
        "1896_QD-TTg_m_294779.doc",
        {"legacy-signature", "foreign-document-id"},
    ),
    "edoc_replacement.edxml": (
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "000.00.00.G22",
        "000.00.00.H41",
        3,
        "1896_QD-TTg_m_294779.doc",
        {"legacy-signature"},
    ),
}

STATUSES = {
    "status.edxml": "01",
    "status_inbox_01.edxml": "01",
    "status_rejection_02.edxml": "02",
    "status_acceptance_03.edxml": "03",
    "status_assignment_04.edxml": "04",
    "status_processing_05.edxml": "05",
    "status_finish_06.edxml": "06",
    "status_cancellation_13.edxml": "13",
    "status_change-acceptance_15.edxml": "15",
    "status_change-rejection_16.edxml": "16",
}


def _round_trip(result: ReadResult) -> None:
    """read -> write -> read gives an equal model (deviations are kept, so write unchecked)."""
    again = edxml.read(edxml.write(result.message, check=False))
    assert again.message == result.message


def test_every_sample_is_covered(samples_dir: Path) -> None:
    names = {p.name for p in samples_dir.glob("*.edxml")}
    assert names == set(DOCUMENTS) | set(STATUSES) | {"edoc.edxml"}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_samples(samples_dir: Path, name: str) -> None:
    doc_id, sender, first_to, business, att_name, warnings = DOCUMENTS[name]
    result = edxml.read_file(samples_dir / name)
    doc = result.message
    assert isinstance(doc, Document)
    assert doc.kind == "edoc"
    assert doc.document_id == doc_id
    assert doc.sender.organ_id == sender
    assert doc.recipients[0].organ_id == first_to
    assert doc.business is not None
    assert doc.business.doc_type == business
    assert doc.business_doc_type == edxml.BusinessDocType(business)
    assert doc.document_type is not None
    assert doc.document_type.type_name == "Công văn"
    assert doc.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert doc.signer is not None
    assert doc.signer.full_name == "Nguyen Thanh Phuc"
    assert doc.trace[0].organ_id == "000.00.00.G22"
    assert doc.trace[0].timestamp == dt.datetime(2018, 9, 28, tzinfo=edxml.VN_TZ)
    assert [a.name for a in doc.attachments] == [att_name]
    att = doc.attachments[0]
    assert att.size > 100_000  # a real .doc, decoded from base64
    assert att.content_type == "application/zip"
    assert doc.signature is not None
    assert doc.signature_is_legacy
    assert {w.code for w in result.warnings} == warnings
    for warning in result.warnings:
        assert warning.line is not None
        assert warning.path.startswith("/")
    _round_trip(result)


def test_replacement_and_update_details(samples_dir: Path) -> None:
    rep = edxml.read_file(samples_dir / "edoc_replacement.edxml").message
    assert isinstance(rep, Document)
    assert rep.business is not None
    assert len(rep.business.replacements) == 2
    assert rep.business.replacements[0].organ_ids == ["000.00.00.H41", "000.00.00.H14"]
    assert [t.organ_id for t in rep.recipients] == [
        "000.00.00.H41",
        "000.00.00.H14",
        "000.00.00.G17",
    ]
    upd = edxml.read_file(samples_dir / "edoc_update.edxml").message
    assert isinstance(upd, Document)
    assert upd.business is not None
    assert upd.business.document_info is not None
    assert [r.receiver_type for r in upd.business.document_info.receivers] == ["0", "1"]
    rev = edxml.read_file(samples_dir / "edoc_revocation.edxml").message
    assert isinstance(rev, Document)
    assert rev.response_for[0].document_id == "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"


@pytest.mark.parametrize("name", sorted(STATUSES))
def test_status_samples(samples_dir: Path, name: str) -> None:
    result = edxml.read_file(samples_dir / name, strict=True)
    msg = result.message
    assert isinstance(msg, StatusMessage)
    assert msg.kind == "status"
    assert msg.status_code == STATUSES[name]
    assert msg.status is edxml.StatusCode(STATUSES[name])
    assert msg.response_for.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert msg.timestamp is not None
    assert msg.timestamp.tzinfo is not None
    assert result.warnings == ()
    _round_trip(result)


def test_status_organisation_children_in_any_order(samples_dir: Path) -> None:
    # status_inbox_01 puts OrganName before OrganizationInCharge
    msg = edxml.read_file(samples_dir / "status_inbox_01.edxml").message
    assert msg.sender.organ_name == "UBND Tỉnh Nghệ An"
    assert msg.sender.organization_in_charge == "UBND Tỉnh Nghệ An"


def test_stray_bytes_strict_fails_lenient_warns(samples_dir: Path) -> None:
    path = samples_dir / "edoc_new.edxml"
    with pytest.raises(EdxmlReadError) as info:
        edxml.read_file(path, strict=True)
    stray = [f for f in info.value.errors if f.code == "stray-bytes"]
    assert len(stray) == 1
    assert "4 stray bytes before the XML declaration" in stray[0].en
    assert "byte lạ" in stray[0].vi
    result = edxml.read_file(path)
    assert "stray-bytes" in {w.code for w in result.warnings}


def test_edoc_sample_header_and_each_problem(samples_dir: Path) -> None:
    """edoc.edxml: an undeclared xlink/edXML prefix and a test-tool placeholder for base64.

    A tolerant reader still gets the header and reports each problem; the broken attachment
    makes the message invalid (it could not be handed to a clerk), so read() raises with a
    partial result.
    """
    with pytest.raises(EdxmlReadError) as info:
        edxml.read_file(samples_dir / "edoc.edxml")
    codes = [f.code for f in info.value.findings]
    assert [f.code for f in info.value.errors] == ["bad-base64"]
    assert "${__StringFromFile" in info.value.errors[0].en
    assert (
        info.value.errors[0].path == "/edXML/AttachmentEncoded/Attachment[1]/ContentTransferEncoded"
    )
    assert codes.count("undeclared-prefix") == 6
    assert {
        "uuid-document-id",
        "foreign-organ-id",  # TraceHeader/OrganId 01.02.G22: a hop, echoed as written
        "empty-response-for",
        "unknown-attribute",
    } <= set(codes)
    partial = info.value.partial
    assert partial is not None
    doc = partial.message
    assert isinstance(doc, Document)
    assert doc.document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert doc.sender.organ_id == "002.00.20.H13"
    assert doc.recipients[0].organ_id == "000.00.15.H51"
    assert doc.code is not None
    assert (doc.code.number, doc.code.notation) == ("12234555512", "PRO-TEST-CASE1")
    assert doc.document_type is not None
    assert doc.document_type.type_name == "Thông tư"
    assert doc.response_for == []  # the empty ResponseFor is reported and dropped
    assert doc.signature is not None
    assert not doc.signature_is_legacy  # this one is in the XML-DSig namespace
    assert doc.attachments == []  # the undecodable attachment is not passed on
    _round_trip(partial)
