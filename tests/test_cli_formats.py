"""``edoc validate``, ``edoc inspect`` and ``edoc extract`` as a clerk or a script uses them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import document, document_bytes, status
from conftest import EXAMPLES
from typer.testing import CliRunner

from edoc_exchange import edxml
from edoc_exchange.cli import app

runner = CliRunner()
EXAMPLE = EXAMPLES / "ke-hoach-papi-2020.edxml"

INSPECT_KEYS = {
    "kind",
    "document_id",
    "from",
    "to",
    "code",
    "promulgation",
    "document_type",
    "subject",
    "signer",
    "due_date",
    "priority",
    "business_doc_type",
    "status_code",
    "status_name",
    "status_description",
    "timestamp",
    "response_for",
    "trace",
    "attachments",
    "signature",
    "warnings",
    "errors",
}


def _json(args: list[str]) -> tuple[int, object]:
    result = runner.invoke(app, args)
    return result.exit_code, json.loads(result.output)


def test_shipped_example_is_what_the_builder_writes() -> None:
    spec = importlib.util.spec_from_file_location("build_example", EXAMPLES / "build_example.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert edxml.read_file(EXAMPLE, strict=True).message == module.build()


def test_inspect_json_document() -> None:
    code, data = _json(["inspect", str(EXAMPLE), "--json"])
    assert code == 0
    assert isinstance(data, dict)
    assert set(data) == INSPECT_KEYS
    assert data["kind"] == "edoc"
    assert data["document_id"] == "000.12.05.H38,2020/06/04,35/KH-UBND"
    assert data["from"]["organ_id"] == "000.12.05.H38"
    assert [t["organ_id"] for t in data["to"]] == ["000.00.05.H38"]
    assert data["code"] == {"number": "35", "notation": "KH-UBND"}
    assert data["promulgation"]["date"] == "2020-06-04"
    assert data["document_type"]["name"] == "Kế hoạch"
    assert data["signer"]["full_name"] == "Nguyễn Văn A"
    assert data["status_code"] is None
    assert data["response_for"] is None
    doc = edxml.read_file(EXAMPLE).message
    assert isinstance(doc, edxml.Document)
    att = doc.attachments[0]
    assert data["attachments"] == [
        {
            "content_id": att.content_id,
            "name": att.name,
            "content_type": att.content_type,
            "description": att.description,
            "size": len(att.data),
            "sha256": hashlib.sha256(att.data).hexdigest(),
            "packing": None,  # sent as its own type: the wire bytes are the file
            "packed_entry": None,
            "wire": {
                "content_type": att.content_type,
                "size": len(att.data),
                "sha256": hashlib.sha256(att.data).hexdigest(),
            },
        }
    ]
    assert data["warnings"] == []


def test_inspect_json_status(tmp_path: Path) -> None:
    path = tmp_path / "status.edxml"
    path.write_bytes(edxml.write(status("03")))
    code, data = _json(["inspect", str(path), "--json"])
    assert code == 0
    assert isinstance(data, dict)
    assert set(data) == INSPECT_KEYS
    assert data["kind"] == "status"
    assert data["status_code"] == "03"
    assert data["status_name"] == "Tiếp nhận"
    assert data["response_for"]["document_id"] == "000.12.05.H38,2026/11/20,12/KH-UBND"
    assert data["to"] == []
    assert data["attachments"] == []


def test_inspect_sample_with_warnings(samples_dir: Path) -> None:
    code, data = _json(["inspect", str(samples_dir / "edoc_new.edxml"), "--json"])
    assert code == 0
    assert isinstance(data, dict)
    assert {w["code"] for w in data["warnings"]} == {
        "stray-bytes",
        "legacy-signature",
        "bad-organ-id",
        "foreign-document-id",
    }
    assert data["signature"] == {"present": True, "legacy": True}
    assert data["attachments"][0]["size"] > 100_000


def test_inspect_broken_sample_shows_header_and_problems(samples_dir: Path) -> None:
    code, data = _json(["inspect", str(samples_dir / "edoc.edxml"), "--json"])
    assert code == 1
    assert isinstance(data, dict)
    assert data["document_id"] == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert [e["code"] for e in data["errors"]] == ["bad-base64"]
    human = runner.invoke(app, ["inspect", str(samples_dir / "edoc.edxml")])
    assert human.exit_code == 1
    assert "Thông tư" in human.output
    assert "base64" in human.output


def test_inspect_human_output() -> None:
    result = runner.invoke(app, ["inspect", str(EXAMPLE)])
    assert result.exit_code == 0
    assert "UBND xã Nậm Khánh" in result.output
    assert "Kế hoạch" in result.output
    doc = edxml.read_file(EXAMPLE).message
    assert isinstance(doc, edxml.Document)
    assert doc.attachments[0].sha256 in result.output.replace("\n", "").replace(" ", "")


def test_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.edxml"
    good.write_bytes(document_bytes())
    bad = tmp_path / "bad.edxml"
    bad.write_bytes(b"not xml")
    assert runner.invoke(app, ["validate", str(good)]).exit_code == 0
    both = runner.invoke(app, ["validate", str(good), str(bad)])
    assert both.exit_code == 1
    assert f"{good}: hợp lệ / valid" in both.output
    assert f"{bad}:1: /: error:" in both.output
    # usage errors: no file, a missing file, an unknown option
    assert runner.invoke(app, ["validate"]).exit_code == 2
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.edxml")]).exit_code == 2
    assert runner.invoke(app, ["validate", "--bogus", str(good)]).exit_code == 2


def test_validate_json(tmp_path: Path, samples_dir: Path) -> None:
    code, data = _json(
        ["validate", "--json", "--strict", str(samples_dir / "edoc_new.edxml"), str(EXAMPLE)]
    )
    assert code == 1
    assert isinstance(data, list)
    first, second = data
    assert first["valid"] is False
    assert {e["code"] for e in first["errors"]} >= {"stray-bytes", "bad-organ-id"}
    assert all(e["line"] for e in first["errors"])
    assert second == {
        "file": str(EXAMPLE),
        "valid": True,
        "kind": "edoc",
        "errors": [],
        "warnings": [],
    }


def test_extract_writes_attachments(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["extract", str(EXAMPLE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = edxml.read_file(EXAMPLE).message
    assert isinstance(doc, edxml.Document)
    written = out / doc.attachments[0].name
    assert written.read_bytes() == doc.attachments[0].data
    again = runner.invoke(app, ["extract", str(EXAMPLE), "-o", str(out)])
    assert again.exit_code == 1
    assert "--force" in again.output
    assert runner.invoke(app, ["extract", str(EXAMPLE), "-o", str(out), "--force"]).exit_code == 0


def test_extract_deduplicates_equal_names(tmp_path: Path) -> None:
    atts = [
        edxml.Attachment(content_id=f"cid:{i}", name="bao-cao.pdf", data=bytes([i]) * 3)
        for i in range(3)
    ]
    path = tmp_path / "m.edxml"
    path.write_bytes(edxml.write(document(attachments=atts)))
    out = tmp_path / "out"
    assert runner.invoke(app, ["extract", str(path), "-o", str(out)]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "bao-cao (2).pdf",
        "bao-cao (3).pdf",
        "bao-cao.pdf",
    ]


@pytest.mark.parametrize("name", ["../../escape.txt", "/etc/passwd", "..\\x.txt", ".."])
def test_extract_refuses_names_that_escape(tmp_path: Path, name: str) -> None:
    data = document_bytes().replace(b">ke-hoach.pdf<", b">" + name.encode() + b"<")
    path = tmp_path / "evil.edxml"
    path.write_bytes(data)
    out = tmp_path / "inner" / "out"
    result = runner.invoke(app, ["extract", str(path), "-o", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "attachment name" in result.output
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "inner" / "escape.txt").exists()


def test_extract_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.symlink(victim, out / "ke-hoach.pdf")
    path = tmp_path / "m.edxml"
    path.write_bytes(document_bytes())
    assert runner.invoke(app, ["extract", str(path), "-o", str(out)]).exit_code == 1
    assert runner.invoke(app, ["extract", str(path), "-o", str(out), "--force"]).exit_code == 1
    assert victim.read_text() == "keep me"


def test_console_script_runs() -> None:
    """The installed ``edoc`` entry point works as README's main command uses it."""
    result = subprocess.run(
        [sys.executable, "-m", "edoc_exchange", "inspect", str(EXAMPLE), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "edoc"
