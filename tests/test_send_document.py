"""``edoc send-document``: any document (a letter with a DOCX and its attachments) from the
command line, over a local axis to the district, each file received intact; a preview that
stores nothing; every bad input refused naming its option, with nothing stored.

The offices are sandbox configs (their own SQLite store, test keys, the local axis run as a
process), as ``edoc compose``'s tests build them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_outgoing import docx_bytes, pdf_bytes, png_bytes, xlsx_bytes
from typer.testing import CliRunner

from edoc_exchange import audit, edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.cli import app
from edoc_exchange.config import load_settings
from edoc_exchange.office import build_office, outgoing, refresh_directory
from edoc_exchange.sandbox import Sandbox
from edoc_exchange.store.tables import outbox, outgoing_register

COMMUNE = "000.12.05.H38"
DISTRICT = "000.00.05.H38"
runner = CliRunner()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    """The commune and the district on a running local axis; the commune's directory
    fetched."""
    sandbox = Sandbox.create(
        tmp_path / "box", [(COMMUNE, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện Bắc Hà")]
    )
    axis = sandbox.start_axis()
    try:
        commune = build_office(load_settings(sandbox.offices[COMMUNE].config))
        refresh_directory(commune)
        commune.axis.close()
        commune.db.dispose()
        yield sandbox
    finally:
        axis.terminate()
        axis.wait(10)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A letter in Word, a spreadsheet and a scan; a PDF; things that are not what they say."""
    made = {
        "letter": ("cong-van-ve-viec-hop.docx", docx_bytes("Kính gửi UBND huyện Bắc Hà")),
        "sheet": ("phu-luc-so-lieu.xlsx", xlsx_bytes()),
        "scan": ("ban-quet.png", png_bytes()),
        "pdf": ("quyet-dinh.pdf", pdf_bytes("Quyet dinh")),
        "text": ("ghi-chu.txt", b"not a main document"),
        "broken_docx": ("hong.docx", docx_bytes()[:200]),
    }
    folder = tmp_path / "files"
    folder.mkdir()
    paths = {}
    for key, (name, data) in made.items():
        path = folder / name
        path.write_bytes(data)
        paths[key] = path
    return paths


def _header(*overrides: str) -> list[str]:
    options = {
        "--type": "cong-van",
        "--notation": "UBND",
        "--subject": "V/v tổ chức họp giao ban tháng 12",
        "--to": DISTRICT,
        "--priority": "1",
        "--place": "Nậm Khánh",
        "--signer-position": "CHỦ TỊCH",
        "--signer-name": "Vũ Ngọc Thiện",
    }
    pairs = dict(zip(overrides[::2], overrides[1::2], strict=True))
    options.update(pairs)
    return [item for key, value in options.items() if value is not None for item in (key, value)]


def _send(box: Sandbox, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["send-document", *args, "--config", str(box.offices[COMMUNE].config)]
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _office(box: Sandbox, organ: str) -> steps.Office:
    return build_office(load_settings(box.offices[organ].config), receiving=organ == DISTRICT)


def _stored(box: Sandbox) -> dict[str, list[Any]]:
    """What a refusal or a preview must leave as it was: the outbox, the register, the log."""
    commune = _office(box, COMMUNE)
    try:
        with commune.db.read() as conn:
            return {
                "outbox": [tuple(r) for r in conn.execute(sa.select(outbox.c.id))],
                "register": [tuple(r) for r in conn.execute(sa.select(outgoing_register))],
                "audit": [e.event for e in audit.entries(conn, COMMUNE)],
            }
    finally:
        commune.db.dispose()


def test_a_letter_with_a_docx_and_two_attachments_arrives_intact(
    box: Sandbox, files: dict[str, Path]
) -> None:
    code, output = _send(box, str(files["letter"]), "--attach", str(files["sheet"]),
                         "--attach", str(files["scan"]), *_header())
    assert code == 0, output
    assert "number 1" in output
    assert "outbox #1: đã xếp hàng / queued" in output

    commune = _office(box, COMMUNE)
    with commune.db.read() as conn:
        message = bytes(conn.execute(sa.select(outbox.c.message)).scalar_one())
        register = conn.execute(sa.select(outgoing_register)).all()
        events = [e for e in audit.entries(conn, COMMUNE) if e.event == "issued"]
    roots = signing.load_roots(box.root / "roots.pem")
    document = signing.verify(message, signing.TrustPolicy(roots=roots, at="now")).message
    assert isinstance(document, edxml.Document)
    assert document.code is not None
    assert (document.code.number, document.code.notation) == ("1", "UBND")
    assert document.document_type is not None
    assert document.document_type.type_name == "Công văn"
    assert document.subject == "V/v tổ chức họp giao ban tháng 12"
    assert [r.organ_id for r in document.recipients] == [DISTRICT]
    assert document.other_info is not None
    assert document.other_info.priority == 1
    assert document.other_info.appendixes == ["phu-luc-so-lieu.xlsx", "ban-quet.png"]
    assert [(r.number, r.notation, r.document_id) for r in register] == [
        (1, "UBND", str(document.document_id))]
    # The command line has no web account: the log names the door and the OS account.
    [issued] = events
    assert issued.data["data"]["by"].startswith("cli")
    assert issued.data["data"]["by_id"] is None
    assert issued.data["data"]["draft_id"] is None

    assert steps.send_due(commune).done == 1
    commune.axis.close()
    district = _office(box, DISTRICT)
    try:
        assert steps.receive_documents(district).done == 1
        received = steps.received_files(district.db, DISTRICT, str(document.document_id))
    finally:
        district.axis.close()
        district.db.dispose()
    assert [(f.name, f.data) for f in received] == [
        (files[key].name, files[key].read_bytes()) for key in ("letter", "sheet", "scan")]
    commune.db.dispose()

    # The next letter of the notation and year takes the next number.
    code, output = _send(box, str(files["pdf"]), *_header("--subject", "Quyết định khen thưởng"))
    assert code == 0, output
    assert "number 2" in output


def test_header_fields_from_a_yaml_and_options_over_them(
    box: Sandbox, files: dict[str, Path], tmp_path: Path
) -> None:
    fields = tmp_path / "fields.yaml"
    fields.write_text(
        "type: quyet-dinh\nnotation: QĐ-UBND\nsubject: Quyết định thành lập tổ công tác\n"
        f"to: [{DISTRICT}]\nplace: Nậm Khánh\nsigner_position: CHỦ TỊCH\n"
        "signer-name: Vũ Ngọc Thiện\ndue: 2099-01-31\n",
        encoding="utf-8",
    )
    out = tmp_path / "qd.edxml"
    code, output = _send(box, str(files["pdf"]), "--fields", str(fields),
                         "--subject", "Quyết định (sửa)", "-o", str(out))
    assert code == 0, output
    document = edxml.read(out.read_bytes(), strict=True).message
    assert isinstance(document, edxml.Document)
    assert document.subject == "Quyết định (sửa)"
    assert document.code is not None
    assert document.code.notation == "QĐ-UBND"
    assert document.due_date is not None
    assert document.due_date.isoformat() == "2099-01-31"

    fields.write_text("type: quyet-dinh\ncolour: red\n", encoding="utf-8")
    before = _stored(box)
    code, output = _send(box, str(files["pdf"]), "--fields", str(fields))
    assert code == 1
    assert "--fields colour" in output
    assert _stored(box) == before


def test_preview_writes_a_readable_envelope_and_stores_nothing(
    box: Sandbox, files: dict[str, Path], tmp_path: Path
) -> None:
    before = _stored(box)
    out = tmp_path / "preview.edxml"
    # A recipient the directory lacks is no reason to refuse a preview: queuing checks it.
    code, output = _send(box, str(files["letter"]), "--attach", str(files["sheet"]),
                         "--preview", "-o", str(out),
                         *_header("--to", "000.00.77.H38"))
    assert code == 0, output
    assert "nothing stored" in output
    result = edxml.read(out.read_bytes())
    document = result.message
    assert isinstance(document, edxml.Document)
    assert document.code is not None
    assert (document.code.number, document.code.notation) == (None, "UBND")
    assert [a.name for a in document.attachments] == [files["letter"].name, files["sheet"].name]
    assert document.attachments[0].data == files["letter"].read_bytes()
    assert [r.organ_id for r in document.recipients] == ["000.00.77.H38"]
    assert b"SignatureValue" not in out.read_bytes()
    assert _stored(box) == before

    code, output = _send(box, str(files["letter"]), "--preview", *_header())
    assert code == 1
    assert "-o" in output


@pytest.mark.parametrize(
    ("main", "attach", "header", "option", "said"),
    [
        ("text", (), (), "MAIN_FILE", "is not of an accepted type (docx, pdf)"),
        ("broken_docx", (), (), "MAIN_FILE", "is not a valid Word (DOCX) file or is damaged"),
        ("missing", (), (), "MAIN_FILE", "does not exist"),
        ("letter", ("sheet", "missing"), (), "--attach", "does not exist"),
        ("letter", ("text",), (), "--attach", "is not of an accepted type"),
        ("letter", (), ("--to", "000.00.77.H38"), "--to",
         "recipient '000.00.77.H38' is not in the organisation directory"),
        ("letter", (), ("--subject", "  "), "--subject", "the subject is empty"),
        ("letter", (), ("--type", "thu-tinh-cam"), "--type", "choose a document type"),
        ("letter", (), ("--due", "31/12/2099"), "--due", "is not a date"),
    ],
)
def test_bad_inputs_name_their_option_and_store_nothing(
    box: Sandbox, files: dict[str, Path], tmp_path: Path, main: str, attach: tuple[str, ...],
    header: tuple[str, ...], option: str, said: str,
) -> None:
    before = _stored(box)
    missing = tmp_path / "khong-co.xlsx"
    attached = [item for key in attach
                for item in ("--attach", str(files.get(key, missing)))]
    code, output = _send(box, str(files.get(main, missing)), *attached, *_header(*header))
    assert code == 1, output
    assert f"Lỗi / Error: {option}" in output, output
    assert said in output, output
    assert _stored(box) == before


def test_a_staff_account_or_a_named_tool_is_the_actor(box: Sandbox,
                                                      files: dict[str, Path]) -> None:
    """The library call an embedding tool uses: its name is what the log records."""
    commune = _office(box, COMMUNE)
    try:
        form = outgoing.DraftForm(doc_type="thong-bao", notation="TB-UBND", subject="Thông báo",
                                  recipients=[DISTRICT], place="Nậm Khánh",
                                  signer_position="CHỦ TỊCH", signer_name="Vũ Ngọc Thiện")
        main = outgoing.Upload("thong-bao.pdf", files["pdf"].read_bytes())
        sent = outgoing.send_document(commune, form, main, actor="so-tay-xa")
        assert (sent.number, sent.preview) == (1, False)
        with pytest.raises(outgoing.DraftError) as refused:
            outgoing.send_document(commune, form, main, actor="x" * 101)
        assert refused.value.step == "draft.actor"
        with commune.db.read() as conn:
            issued = [e.data["data"] for e in audit.entries(conn, COMMUNE) if e.event == "issued"]
        assert [e["by"] for e in issued] == ["so-tay-xa"]
    finally:
        if commune.client is not None:
            commune.axis.close()
        commune.db.dispose()
