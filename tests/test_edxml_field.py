"""What peers really write: the field samples, zipped attachments, other code schemes, dates.

The field samples (../shared/samples/edxml-field, read in place, never copied) are real
messages from vendors and from the national axis. Each must read in lenient mode with the
fields the official parser hands out; ``extract`` must give the files a clerk would get.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from builders import COMMUNE, document
from typer.testing import CliRunner

from edoc_exchange import edxml
from edoc_exchange.cli import app
from edoc_exchange.edxml import Document, EdxmlReadError, ReadLimits, StatusMessage

runner = CliRunner()
FIELD = Path(__file__).resolve().parents[2] / "shared" / "samples" / "edxml-field"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a Word 97-2003 .doc


@pytest.fixture(scope="module")
def field_dir() -> Path:
    if not FIELD.is_dir():
        pytest.skip(f"field samples not found at {FIELD} (../shared is not beside the repo)")
    return FIELD


def vn(year: int, month: int, day: int, hour: int, minute: int, second: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=edxml.VN_TZ)


# --- the field samples, field by field -------------------------------------------------------


def test_every_field_sample_is_covered(field_dir: Path) -> None:
    assert {p.name for p in field_dir.glob("*.edxml")} == {
        "axis-2025-petrolimex-to-btc.edxml",
        "bkav-status-05-crlf.edxml",
        "gateway-nonstandard-attachments.edxml",
        "gateway-zipped-attachment.edxml",
    }


def test_axis_delivered_message_reads_with_the_official_fields(field_dir: Path) -> None:
    result = edxml.read_file(field_dir / "axis-2025-petrolimex-to-btc.edxml")
    doc = result.message
    assert isinstance(doc, Document)
    assert doc.sender.organ_id == "020100107370"  # an enterprise code: a post-2020 scheme
    assert doc.sender.organ_name == "Tập đoàn Xăng dầu Việt Nam"
    assert [r.organ_id for r in doc.recipients] == ["G12", "000.00.00.G12"]
    assert doc.document_id == "020100107370,2025/10/13,2440/PLX-HĐQT"
    assert doc.code is not None
    assert (doc.code.number, doc.code.notation) == ("2440", "PLX-HĐQT")
    assert doc.promulgation is not None
    assert (doc.promulgation.place, doc.promulgation.date) == ("Hà Nội", dt.date(2025, 10, 13))
    assert doc.document_type is not None
    assert (doc.document_type.type, doc.document_type.type_name) == ("71", "Công văn")
    assert doc.subject == "Vv xin phép cử cán bộ đi công tác nước ngoài"
    assert doc.signer is not None
    assert (doc.signer.position, doc.signer.full_name) == ("Chủ tịch HĐQT", "Phạm Văn Thanh")
    assert doc.other_info is not None
    assert doc.other_info.priority == 0
    assert doc.other_info.direction is False
    assert doc.steering_type == "0"
    assert doc.business is not None
    assert doc.business.doc_type == 0
    assert doc.business.staff_info is not None
    assert doc.business.staff_info.staff == "Nguyễn Bích Loan"
    # The sender's hop, the axis's hop without an OrganId (kept), the axis gateway's hop.
    assert [(t.organ_id, t.timestamp) for t in doc.trace] == [
        ("020100107370", vn(2025, 10, 13, 10, 25, 18)),
        (None, vn(2025, 10, 13, 10, 27, 35)),
        ("02.29.W00", vn(2025, 10, 13, 10, 40, 4)),
    ]
    pdf, word = doc.attachments
    assert pdf.packed is None
    assert pdf.file.data.startswith(b"%PDF-1.5")
    assert pdf.file.size == 282044
    # The .doc travels zipped, labelled application/zip: the clerk gets the Word file.
    assert word.name.endswith("(28.11-9.12).doc")
    assert word.content_type == "application/zip"
    assert word.data.startswith(b"PK\x03\x04")
    assert word.packed is not None
    assert word.file.data.startswith(OLE2)
    assert word.file.size == 122368
    assert word.file.content_type == "application/msword"
    # Warnings name the source's own element and line, also after the hop without OrganId.
    by_path = {w.path: w for w in result.warnings}
    trace = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
    assert by_path[f"{trace}/TraceHeader[2]/OrganId"].code == "missing-optional"
    third = by_path[f"{trace}/TraceHeader[3]/OrganId"]
    assert third.code == "foreign-organ-id"
    assert third.line is not None
    source = (field_dir / "axis-2025-petrolimex-to-btc.edxml").read_text("utf-8").splitlines()
    assert "02.29.W00" in source[third.line - 1]


def test_gateway_zipped_text_is_handed_out_unzipped(field_dir: Path) -> None:
    doc = edxml.read_file(field_dir / "gateway-zipped-attachment.edxml").message
    assert isinstance(doc, Document)
    assert doc.sender.organ_id == "vxp.saas.03"
    assert doc.document_id == "test-doc"
    (att,) = doc.attachments
    assert att.name == "clean.txt"
    assert att.size == 206
    assert att.file.data == b"Clean test"
    assert att.file.content_type == "text/plain"


def test_gateway_nonstandard_attachments_are_kept_not_handed_out(field_dir: Path) -> None:
    # The official parser reads attachments from AttachmentEncoded only: this vendor's
    # edXMLAttachments block is kept (and written back) as extension data, with a warning.
    result = edxml.read_file(field_dir / "gateway-nonstandard-attachments.edxml")
    doc = result.message
    assert isinstance(doc, Document)
    assert doc.attachments == []
    kept = doc.container_extensions["edXMLEnvelope"]
    assert any("edXMLAttachments" in raw.xml and "Yg==" in raw.xml for raw in kept)
    assert doc.code is not None
    assert doc.code.number == "GW-20251014073327634-773"
    codes = {w.code for w in result.warnings}
    assert {"unknown-element", "too-long", "bad-document-id"} <= codes
    again = edxml.read(edxml.write(doc, check=False)).message
    assert again == doc


def test_bkav_status_with_crlf_reads(field_dir: Path) -> None:
    result = edxml.read_file(field_dir / "bkav-status-05-crlf.edxml")
    status = result.message
    assert isinstance(status, StatusMessage)
    assert status.status_code == "05"
    assert status.sender.organ_id == "000.00.00.H41"
    assert status.response_for.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert status.timestamp == vn(2015, 9, 20, 11, 8, 36)
    assert status.staff_info is not None
    assert status.staff_info.department == "Phong hanh chinh"
    assert result.warnings == ()


def test_no_finding_speaks_in_model_terms(field_dir: Path, samples_dir: Path) -> None:
    # Users read element names and our explanations, never field names or pydantic text.
    internal = re.compile(r"organ_id|content_id|document_id|Field required|Value error|\binput\b")
    for path in [*field_dir.glob("*.edxml"), *samples_dir.glob("*.edxml")]:
        try:
            findings = edxml.read_file(path).warnings
        except EdxmlReadError as exc:
            findings = exc.findings
        for f in findings:
            assert not internal.search(f"{f.path} {f.vi} {f.en}"), (path.name, f)


@pytest.mark.parametrize(
    "name", ["axis-2025-petrolimex-to-btc.edxml", "gateway-zipped-attachment.edxml"]
)
def test_extract_gives_the_inner_files(field_dir: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["extract", str(field_dir / name), "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = edxml.read_file(field_dir / name).message
    assert isinstance(doc, Document)
    for att in doc.attachments:
        written = (out / att.name).read_bytes()
        assert written == att.file.data
        assert not written.startswith(b"PK\x03\x04")  # never the SDK's zip
        assert hashlib.sha256(written).hexdigest() in result.output


def test_inspect_shows_wire_and_inner_file(field_dir: Path) -> None:
    result = runner.invoke(
        app, ["inspect", str(field_dir / "axis-2025-petrolimex-to-btc.edxml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    word = data["attachments"][1]
    assert word["packing"] == "zip"
    assert word["content_type"] == "application/msword"
    assert word["size"] == 122368
    assert word["wire"]["content_type"] == "application/zip"
    assert word["wire"]["size"] == 46430
    assert word["wire"]["sha256"] != word["sha256"]
    assert data["trace"][1] == {"organ_id": None, "timestamp": "2025-10-13T10:27:35+07:00"}


def test_official_sample_attachment_is_unpacked_too(samples_dir: Path) -> None:
    doc = edxml.read_file(samples_dir / "edoc_new.edxml").message
    assert isinstance(doc, Document)
    (att,) = doc.attachments
    assert att.packed is not None
    assert att.packed.entry_name.endswith(".edxml")  # the SDK names entries by UUID
    assert att.file.name == "1896_QD-TTg_m_294779.doc"
    assert att.file.size == len(att.packed.data) > att.size


# --- zipped attachments: what is unpacked, what is refused -----------------------------------


def make_zip(*entries: tuple[str, bytes], level: int = 9) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


PLACEHOLDER = b"placeholder-of-the-zip"


def packed_message(payload: bytes, name: str = "ke-hoach.doc") -> bytes:
    """A message whose attachment ``name`` carries ``payload`` labelled application/zip,
    as the official SDK sends it (built as text: our writer never sends one)."""
    att = edxml.Attachment(
        content_id="cid:plan-1", name=name, content_type="application/msword", data=PLACEHOLDER
    )
    data = edxml.write(document(attachments=[att]))
    data = data.replace(b"application/msword", b"application/zip")
    return data.replace(base64.b64encode(PLACEHOLDER), base64.b64encode(payload))


def read_error(data: bytes, limits: ReadLimits = edxml.DEFAULT_LIMITS) -> edxml.Finding:
    with pytest.raises(EdxmlReadError) as info:
        edxml.read(data, limits=limits)
    (error,) = info.value.errors
    assert error.path == "/edXML/AttachmentEncoded/Attachment[1]/ContentTransferEncoded"
    return error


def test_one_entry_zip_is_unpacked() -> None:
    inner = b"Word file " * 100
    doc = edxml.read(packed_message(make_zip(("0f3a.doc", inner)))).message
    assert isinstance(doc, Document)
    assert doc.attachments[0].file.data == inner
    assert doc.attachments[0].file.name == "ke-hoach.doc"


def test_a_real_zip_file_is_not_unpacked() -> None:
    archive = make_zip(("a.txt", b"a"), ("b.txt", b"b"))
    doc = edxml.read(packed_message(archive, name="ho-so.zip")).message
    assert isinstance(doc, Document)
    assert doc.attachments[0].packed is None
    assert doc.attachments[0].file.data == archive


def test_zip_bomb_by_ratio_is_refused() -> None:
    bomb = make_zip(("bomb.doc", bytes(30 * 1024 * 1024)))
    assert len(bomb) < 100_000
    error = read_error(packed_message(bomb))
    assert error.code == "zip-ratio"
    assert "bom zip" in error.vi


def test_zip_over_the_unpacked_size_is_refused() -> None:
    # Incompressible data: the ratio is ~1, the total is over a small bound.
    noise = hashlib.shake_256(b"x").digest(3 * 1024 * 1024)
    error = read_error(
        packed_message(make_zip(("scan.doc", noise))),
        ReadLimits(max_unpacked_bytes=2 * 1024 * 1024),
    )
    assert error.code == "zip-too-large"


def test_zip_with_many_entries_is_refused() -> None:
    archive = make_zip(*((f"{i}.doc", b"x") for i in range(40)))
    assert read_error(packed_message(archive)).code == "zip-too-many-entries"


@pytest.mark.parametrize(
    "entry", ["../../etc/cron.d/evil", "/etc/passwd", "thu-muc/tep.doc", "..\\tep.doc", "C:tep.doc"]
)
def test_zip_entry_with_a_path_is_refused(entry: str) -> None:
    error = read_error(packed_message(make_zip((entry, b"x"))))
    assert error.code == "zip-entry-path"
    assert entry[:10] in error.en


def test_corrupt_zip_is_refused() -> None:
    archive = bytearray(make_zip(("a.doc", b"Van ban " * 500)))
    archive[40:60] = bytes(20)  # inside the compressed stream
    assert read_error(packed_message(bytes(archive))).code == "zip-corrupt"
    truncated = make_zip(("a.doc", b"Van ban " * 500))[:-30]
    assert read_error(packed_message(truncated)).code == "zip-corrupt"


def test_encrypted_zip_is_refused() -> None:
    archive = bytearray(make_zip(("a.doc", b"secret")))
    archive[6] |= 0x01  # local header: encrypted
    central = archive.rindex(b"PK\x01\x02")
    archive[central + 8] |= 0x01  # central directory: encrypted
    assert read_error(packed_message(bytes(archive))).code == "zip-encrypted"


def test_empty_zip_is_refused() -> None:
    assert read_error(packed_message(make_zip())).code == "zip-empty"


def test_several_entries_give_the_first_with_a_warning() -> None:
    result = edxml.read(packed_message(make_zip(("a.doc", b"first"), ("b.doc", b"second"))))
    doc = result.message
    assert isinstance(doc, Document)
    assert doc.attachments[0].file.data == b"first"
    assert doc.attachments[0].packed is not None
    assert doc.attachments[0].packed.ignored == ["b.doc"]
    (warning,) = [w for w in result.warnings if w.code == "zip-extra-entries"]
    assert "b.doc" in warning.en


def test_zip_label_on_other_bytes_hands_them_out_as_they_are() -> None:
    result = edxml.read(packed_message(OLE2 + b"plain doc"))
    doc = result.message
    assert isinstance(doc, Document)
    assert doc.attachments[0].file.data == OLE2 + b"plain doc"
    assert "zip-label-not-zip" in {w.code for w in result.warnings}


def test_a_docx_labelled_zip_is_not_taken_apart() -> None:
    docx = make_zip(("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>"))
    result = edxml.read(packed_message(docx, name="bao-cao.docx"))
    doc = result.message
    assert isinstance(doc, Document)
    assert doc.attachments[0].file.data == docx
    assert "zip-label-on-document" in {w.code for w in result.warnings}


def test_zip_errors_through_the_cli_are_one_line_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bomb.edxml"
    path.write_bytes(packed_message(make_zip(("bomb.doc", bytes(30 * 1024 * 1024)))))
    for command in (["validate", str(path)], ["extract", str(path), "-o", str(tmp_path / "o")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        assert "zip" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_the_writer_never_sends_a_packed_attachment() -> None:
    inner = make_zip(("x.doc", b"x"))
    att = edxml.Attachment(name="x.doc", content_type="application/zip", data=inner)
    assert att.packed is not None  # a model built by hand is unpacked too
    with pytest.raises(edxml.EdxmlWriteError) as info:
        edxml.write(document(attachments=[att]))
    assert info.value.errors[0].code == "packed-attachment"


# --- codes of other schemes, hops without an OrganId ----------------------------------------


def test_a_status_reply_to_a_post_2020_sender_can_be_written() -> None:
    reply = edxml.StatusMessage(
        sender=edxml.OrganizationInfo(organ_id=COMMUNE, organ_name="UBND xã Nậm Khánh"),
        response_for=edxml.ResponseFor(
            organ_id="020100107370",
            code="2440/PLX-HĐQT",
            promulgation_date=dt.date(2025, 10, 13),
            document_id="020100107370,2025/10/13,2440/PLX-HĐQT",
        ),
        status_code="01",
        timestamp=vn(2025, 10, 14, 8, 0, 0),
    )
    data = edxml.write(reply)
    result = edxml.read(data, strict=True)  # what we write, strict reading accepts
    assert result.message == reply
    assert {w.code for w in result.warnings} == {"foreign-organ-id", "foreign-document-id"}
    for code in ("G12", "02.29.W00", "vxp.saas.03"):
        other = reply.model_copy(
            update={
                "response_for": reply.response_for.model_copy(
                    update={"organ_id": code, "document_id": "GW-20251014073327634-773"}
                )
            }
        )
        assert edxml.read(edxml.write(other), strict=True).message == other


def test_our_own_identity_stays_strict() -> None:
    for field, value in (
        ("sender", edxml.OrganizationInfo(organ_id="G12", organ_name="x")),
        ("document_id", "GW-1"),
    ):
        with pytest.raises(edxml.EdxmlWriteError):
            edxml.write(document(**{field: value}))


@pytest.mark.parametrize("junk", ["000.00 00.H41", "a,b", "null", "x" * 65])
def test_a_reference_that_is_no_code_is_still_refused(junk: str) -> None:
    rf = edxml.ResponseFor(
        organ_id=junk, code="1/KH", promulgation_date=dt.date(2025, 1, 1), document_id="GW-1"
    )
    with pytest.raises(edxml.EdxmlWriteError):
        edxml.write(document(response_for=[rf]))


def test_hop_without_organ_id_and_null_are_kept_with_one_warning_each() -> None:
    data = edxml.write(document())
    hops = (
        b"<edXML:TraceHeader><edXML:Timestamp>2026/11/20 09:00:00</edXML:Timestamp>"
        b"</edXML:TraceHeader><edXML:TraceHeader><edXML:OrganId>null</edXML:OrganId>"
        b"<edXML:Timestamp>2026/11/20 09:01:00</edXML:Timestamp></edXML:TraceHeader>"
    )
    data = data.replace(b"</edXML:TraceHeaderList>", hops + b"</edXML:TraceHeaderList>")
    result = edxml.read(data)
    doc = result.message
    assert isinstance(doc, Document)
    assert [t.organ_id for t in doc.trace] == [COMMUNE, None, None]
    trace = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
    assert sorted((w.code, w.path) for w in result.warnings) == [
        ("missing-optional", f"{trace}/TraceHeader[2]/OrganId"),
        ("null-text", f"{trace}/TraceHeader[3]/OrganId"),
    ]
    with pytest.raises(EdxmlReadError):
        edxml.read(data, strict=True)


def test_findings_point_at_the_source_after_a_dropped_element() -> None:
    # An empty To is dropped; the malformed one after it is reported as the source's To[3].
    data = edxml.write(
        document(
            recipients=[
                edxml.OrganizationInfo(organ_id="000.00.05.H38", organ_name="A"),
                edxml.OrganizationInfo(organ_id="000.00.06.H38", organ_name="B"),
            ]
        )
    )
    data = data.replace(b"<edXML:OrganId>000.00.06.H38", b"<edXML:OrganId>28.22.H17", 1)
    data = data.replace(b"</edXML:To>", b"</edXML:To><edXML:To>  </edXML:To>", 1)
    result = edxml.read(data)
    (warning,) = [w for w in result.warnings if w.code == "bad-organ-id"]
    assert warning.path.endswith("/To[3]/OrganId")
    assert warning.line is not None
    assert "28.22.H17" in data.decode("utf-8").splitlines()[warning.line - 1]
