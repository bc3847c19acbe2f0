"""``edoc compose`` against a sandbox office (its directory and outgoing register), and
``edoc demo`` as README's main command runs it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from edoc_exchange import edxml, signing
from edoc_exchange.cli import app
from edoc_exchange.config import load_settings
from edoc_exchange.office import build_office, refresh_directory
from edoc_exchange.sandbox import Sandbox
from edoc_exchange.store.tables import outbox, outgoing_register

COMMUNE = "000.12.05.H38"
DISTRICT = "000.00.05.H38"
PLAN = EXAMPLES / "ke-hoach-papi-2020.yaml"
runner = CliRunner()


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Sandbox]:
    """The commune's config, with the directory fetched from a running local axis."""
    box = Sandbox.create(
        tmp_path / "box", [(COMMUNE, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện Bắc Hà")]
    )
    axis = box.start_axis()
    try:
        commune = build_office(load_settings(box.offices[COMMUNE].config))
        refresh_directory(commune)
        commune.axis.close()
        yield box
    finally:
        axis.terminate()
        axis.wait(10)


def _queued(box: Sandbox) -> int:
    commune = build_office(load_settings(box.offices[COMMUNE].config), receiving=False)
    with commune.db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def _compose(box: Sandbox, plan: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "compose",
            str(plan),
            "-o",
            str(out),
            *extra,
            "--config",
            str(box.offices[COMMUNE].config),
        ],
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_compose_writes_signed_envelope_and_pdf_and_queues(office: Sandbox, tmp_path: Path) -> None:
    out, pdf = tmp_path / "plan.edxml", tmp_path / "plan.pdf"
    code, output = _compose(office, PLAN, out, "--pdf", str(pdf), "--queue")
    assert code == 0, output
    assert pdf.read_bytes().startswith(b"%PDF")
    roots = signing.load_roots(office.root / "roots.pem")
    verified = signing.verify(out.read_bytes(), signing.TrustPolicy(roots=roots, at="now"))
    doc = verified.message
    assert isinstance(doc, edxml.Document)
    assert doc.document_type is not None
    assert doc.document_type.type_name == "Kế hoạch"
    assert doc.code is not None
    assert (doc.code.number, doc.code.notation) == ("1", "KH-UBND")  # the register's next
    assert [r.organ_id for r in doc.recipients] == [DISTRICT]
    assert doc.to_places[-1].startswith("Lưu:")
    assert doc.signer is not None
    assert doc.signer.position == "CHỦ TỊCH"
    # The YAML source goes only when asked for (issue 13).
    assert [a.content_type for a in doc.attachments] == ["application/pdf"]
    assert _queued(office) == 1
    # The next plan of the year takes the next number.
    code, output = _compose(office, PLAN, tmp_path / "again.edxml", "--queue")
    assert code == 0, output
    assert "2/KH-UBND" in output


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = PLAN.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_recipient_missing_from_the_directory(office: Sandbox, tmp_path: Path) -> None:
    path = _edited(tmp_path, f"organ_id: {DISTRICT}", "organ_id: 000.00.77.H38")
    code, output = _compose(office, path, tmp_path / "x.edxml", "--queue")
    assert code == 1
    line = next(
        i for i, text in enumerate(path.read_text().splitlines(), 1) if "000.00.77.H38" in text
    )
    assert re.search(rf"line {line}, column \d+\): recipients\[\d+\]\.organ_id", output), output
    assert "not in the axis's organisation directory" in output
    assert "không có trong danh bạ" in output
    assert not (tmp_path / "x.edxml").exists()
    assert _queued(office) == 0


def test_number_already_used_this_year(office: Sandbox, tmp_path: Path) -> None:
    assert _compose(office, PLAN, tmp_path / "first.edxml", "--queue")[0] == 0  # takes no. 1
    path = _edited(tmp_path, "number:", "number: 1 #") if "number:" in PLAN.read_text() else None
    assert path is not None
    code, output = _compose(office, path, tmp_path / "dup.edxml", "--queue")
    assert code == 1, output
    assert "number 1 was already used" in output
    assert re.search(r"line \d+, column \d+\): number", output), output
    assert _queued(office) == 1


def test_issuer_must_be_this_office(office: Sandbox, tmp_path: Path) -> None:
    path = _edited(tmp_path, f"organ_id: {COMMUNE}", "organ_id: 000.13.05.H38")
    code, output = _compose(office, path, tmp_path / "x.edxml")
    assert code == 1
    assert "is not this office" in output
    assert "issuer.organ_id" in output


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("subject:", "subjekt:", "subject"),
        ("kind: plan", "kind: plan\nurgency: [1, 2]", "urgency"),
        ("papi: tham-gia", "papi: khong-ton-tai", "papi"),
        ("notation: KH-UBND", "notation: BC-UBND", "notation"),
    ],
)
def test_bad_content_nothing_queued(
    office: Sandbox, tmp_path: Path, old: str, new: str, fragment: str
) -> None:
    path = _edited(tmp_path, old, new)
    code, output = _compose(office, path, tmp_path / "x.edxml", "--queue")
    assert code == 1, output
    assert re.search(r"line \d+, column \d+\)", output), output
    assert fragment in output
    assert _queued(office) == 0


@pytest.mark.slow
def test_demo_runs_green_and_leaves_nothing_running(tmp_path: Path) -> None:
    """README's main command: from a fresh configuration-less start, in under a minute."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDOC_")}
    env["HOME"] = str(tmp_path)  # no configuration, no data folder of a previous run
    result = subprocess.run(
        [sys.executable, "-m", "edoc_exchange", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in (
        "local axis",
        "plan composed and signed",
        "district received, verified",
        "status 01",
        "accepted (03)",
        "status 03",
        "audit log intact",
        "pages: UBND xã Nậm Khánh: http://127.0.0.1:",
        "pages: UBND huyện Bắc Hà: http://127.0.0.1:",
        "test accounts: vanthu (van_thu), lanhdao (lanh_dao); mật khẩu / password: ",
        "axis, daemons and pages stopped",
        # the two-step flow of Nghị định 30: the chairman's key, then the office's seal
        "the chairman approved and signed: Vũ Ngọc Thiện",
        "the văn thư numbered and sealed it: UBND xã Nậm Khánh",
    ):
        assert step in out, step
    # both PAdES signatures valid, each with a trusted timestamp from the demo's local TSA
    stamped = r"\(valid, dấu thời gian / timestamp \d\d:\d\d:\d\d\+0700\)"
    assert re.search(
        "district checked the PDF signatures: valid: "
        rf"1\. Vũ Ngọc Thiện {stamped}, 2\. UBND xã Nậm Khánh {stamped}", out
    ), out
    seconds = float(re.search(r"done in ([\d.]+) s", out).group(1))  # type: ignore[union-attr]
    assert seconds < 60
    pdf = Path(re.search(r"PDF:\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    assert pdf.read_bytes().startswith(b"%PDF")
    signatures = PdfFileReader(io.BytesIO(pdf.read_bytes())).embedded_signatures
    assert [s.field_name for s in signatures] == ["Signer", "Organisation"]
    # the district's `edoc status` tells the envelope's timestamp, proven by the trusted TSA
    document_id = re.search(r"queued: (\S+)", out).group(1)  # type: ignore[union-attr]
    district = tmp_path / "demo" / "office-000.00.05.H38" / "edoc.toml"
    status = subprocess.run(
        [sys.executable, "-m", "edoc_exchange", "status", document_id, "--config",
         str(district), "--json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    stamp = json.loads(status.stdout)["received"]["timestamp"]
    assert stamp["status"] == "valid", stamp
    assert "TSA" in stamp["tsa"]
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(tmp_path / "demo") not in procs


def test_compose_report_answers_its_plan(office: Sandbox, tmp_path: Path) -> None:
    report = EXAMPLES / "bao-cao-papi-quy-3.yaml"
    out = tmp_path / "report.edxml"
    code, output = _compose(office, report, out, "--queue")
    assert code == 0, output
    doc = edxml.read(out.read_bytes(), strict=True).message
    assert isinstance(doc, edxml.Document)
    assert doc.document_type is not None
    assert doc.document_type.type_name == "Báo cáo"
    assert doc.code is not None
    assert doc.code.notation == "BC-UBND"
    assert [r.document_id for r in doc.response_for] == ["000.12.05.H38,2020/06/04,/KH-UBND"]
    assert doc.response_for[0].promulgation_date is not None
    assert doc.response_for[0].promulgation_date.isoformat() == "2020-06-04"


def test_queuing_needs_neither_axis_nor_trust(office: Sandbox, tmp_path: Path) -> None:
    """A clerk's machine without the axis settings composes and queues; sending from it is a
    clear configuration error, not a traceback (issue 10: parts built on demand)."""
    config = office.offices[COMMUNE].config
    text = config.read_text(encoding="utf-8")
    sections = re.split(r"(?m)^(?=\[)", text)
    kept = [s for s in sections if not s.startswith(("[axis]", "[trust]"))]
    config.write_text("".join(kept), encoding="utf-8")
    assert "[axis]" not in config.read_text(encoding="utf-8")
    code, output = _compose(office, PLAN, tmp_path / "plan.edxml", "--queue")
    assert code == 0, output
    assert "outbox #1" in output
    sent = runner.invoke(app, ["send", str(tmp_path / "plan.edxml"), "--config", str(config)])
    assert sent.exit_code == 1
    assert "[axis]" in sent.output
    assert "Traceback" not in sent.output
    assert _queued(office) == 1  # refused before queuing: the composed plan alone is there


@pytest.fixture
def unconnected(tmp_path: Path) -> Sandbox:
    """A fresh office: its config and an empty store, its directory never fetched."""
    return Sandbox.create(
        tmp_path / "fresh", [(COMMUNE, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện Bắc Hà")]
    )


def test_preview_needs_no_directory(unconnected: Sandbox, tmp_path: Path) -> None:
    """README's tour on a fresh machine: recipients are checked when queued, not before."""
    out, pdf = tmp_path / "plan.edxml", tmp_path / "plan.pdf"
    code, output = _compose(unconnected, PLAN, out, "--pdf", str(pdf))
    assert code == 0, output
    assert "preview: not numbered, not signed" in output
    assert pdf.read_bytes().startswith(b"%PDF")
    result = edxml.read(out.read_bytes())
    doc = result.message
    assert isinstance(doc, edxml.Document)
    assert doc.code is not None
    assert (doc.code.number, doc.code.notation) == (None, "KH-UBND")
    assert [r.organ_id for r in doc.recipients] == [DISTRICT]
    assert [a.content_type for a in doc.attachments] == ["application/pdf"]
    assert b"SignatureValue" not in out.read_bytes()  # nothing signed before it is numbered
    assert [w.path.rsplit("/", 1)[-1] for w in result.warnings] == ["CodeNumber"]
    with pytest.raises(edxml.EdxmlReadError):
        edxml.read(out.read_bytes(), strict=True)  # a preview can never be queued
    assert _queued(unconnected) == 0


def test_queuing_refuses_a_recipient_the_empty_directory_lacks(
    unconnected: Sandbox, tmp_path: Path
) -> None:
    out = tmp_path / "plan.edxml"
    code, output = _compose(unconnected, PLAN, out, "--queue")
    assert code == 1, output
    assert f"OrganId {DISTRICT}" in output
    assert "the directory is empty: run the daemon" in output
    assert re.search(r"line \d+, column \d+\): recipients\[\d+\]\.organ_id", output), output
    assert not out.exists()
    assert _queued(unconnected) == 0
    commune = build_office(load_settings(unconnected.offices[COMMUNE].config), receiving=False)
    with commune.db.engine.connect() as conn:
        assert conn.execute(select(outgoing_register)).all() == []  # no number taken


def test_the_yaml_source_goes_only_when_asked(office: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "plan.edxml"
    code, output = _compose(office, PLAN, out, "--queue", "--attach-source")
    assert code == 0, output
    doc = edxml.read(out.read_bytes(), strict=True).message
    assert isinstance(doc, edxml.Document)
    assert [a.content_type for a in doc.attachments] == ["application/pdf", "application/yaml"]
    assert doc.attachments[1].data == PLAN.read_bytes()
