"""The office's commands as a clerk and an inspector use them, on a sandbox with a real
local axis process: db upgrade, daemon run, status, mark, audit verify/export/prove, report."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axis_fixtures import make_document
from typer.testing import CliRunner

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.cli import app
from edoc_exchange.config import load_settings
from edoc_exchange.office import build_office
from edoc_exchange.sandbox import Sandbox, free_port

COMMUNE = "000.12.05.H38"
DISTRICT = "000.00.05.H38"
runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("sandbox")
    box = Sandbox.create(
        root,
        [(COMMUNE, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện Bắc Hà")],
        daemon={"inbound_interval": 0.2, "outbound_interval": 0.2, "health_port": free_port()},
    )
    axis = box.start_axis()
    try:
        yield box
    finally:
        axis.terminate()
        axis.wait(10)


def _cli(box: Sandbox, organ: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--config", str(box.offices[organ].config)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def exchanged(sandbox: Sandbox) -> str:
    """A plan sent by the commune, received and accepted by the district (via the CLI)."""
    box = sandbox
    assert _cli(box, COMMUNE, "db", "upgrade")[0] == 0
    doc = make_document(COMMUNE, [DISTRICT], "35", date=dt.date.today())
    commune = build_office(load_settings(box.offices[COMMUNE].config))
    steps.queue_message(commune, edxml.write(doc), composed=True)
    for organ in (COMMUNE, DISTRICT, COMMUNE):
        code, output = _cli(box, organ, "daemon", "run", "--once")
        assert code == 0, output
    code, output = _cli(box, DISTRICT, "mark", doc.document_id or "", "03", "--note", "Sổ đến số 7")
    assert code == 0, output
    for organ in (DISTRICT, COMMUNE):
        assert _cli(box, organ, "daemon", "run", "--once")[0] == 0
    return doc.document_id or ""


def test_files_hands_the_clerk_the_received_files(
    sandbox: Sandbox, exchanged: str, tmp_path: Path
) -> None:
    code, output = _cli(sandbox, DISTRICT, "files", exchanged, "-o", str(tmp_path / "out"))
    assert code == 0, output
    [written] = list((tmp_path / "out").iterdir())
    assert written.name == "ke-hoach.pdf"
    assert written.read_bytes().startswith(b"%PDF-1.7")
    # Not twice without --force; never for a document that is not there.
    code, output = _cli(sandbox, DISTRICT, "files", exchanged, "-o", str(tmp_path / "out"))
    assert code == 1
    assert "--force" in output
    code, output = _cli(sandbox, DISTRICT, "files", "no-such-document", "-o", str(tmp_path))
    assert code == 1
    assert "no received document" in output


def test_status_both_sides(sandbox: Sandbox, exchanged: str) -> None:
    code, output = _cli(sandbox, DISTRICT, "status", exchanged, "--json")
    assert code == 0
    data = json.loads(output)
    assert data["received"]["clerk_state"] == "03"
    assert data["received"]["verdict"] == "verified"
    assert [h["status_code"] for h in data["history"]] == ["01", "03"]
    code, output = _cli(sandbox, COMMUNE, "status", exchanged, "--json")
    data = json.loads(output)
    assert data["sent"]["state"] == "sent"
    assert data["sent"]["recipients"][0]["status_code"] == "03"
    code, human = _cli(sandbox, COMMUNE, "status", exchanged)
    assert code == 0
    assert "Tiếp nhận" in human
    assert _cli(sandbox, COMMUNE, "status", "000.00.00.H01,2020/01/01,1/X")[0] == 1


def test_mark_refuses_bad_moves(sandbox: Sandbox, exchanged: str) -> None:
    code, output = _cli(sandbox, DISTRICT, "mark", exchanged, "09")
    assert code == 2
    code, output = _cli(sandbox, DISTRICT, "mark", exchanged, "03")
    assert code == 1
    assert "cannot move the document from state 03 to 03" in output
    code, output = _cli(sandbox, DISTRICT, "mark", "000.00.00.H01,2020/01/01,1/X", "03")
    assert code == 1
    assert "no received document" in output


def test_audit_verify_export_prove(sandbox: Sandbox, exchanged: str, tmp_path: Path) -> None:
    for organ in (COMMUNE, DISTRICT):
        code, output = _cli(sandbox, organ, "audit", "verify", "--json")
        assert code == 0, output
        assert json.loads(output)["entries"] > 3
    export = tmp_path / "audit.jsonl"
    code, output = _cli(sandbox, DISTRICT, "audit", "export", "-o", str(export))
    assert code == 0, output
    # The inspector holds the office's certificate: the anchor, never what the file carries.
    cert = str(sandbox.offices[DISTRICT].config.parent / "keys" / "signer.pem")
    unanchored = runner.invoke(app, ["audit", "verify", "--file", str(export)])
    assert unanchored.exit_code == 1
    assert "Traceback" not in unanchored.output
    ok = runner.invoke(app, ["audit", "verify", "--file", str(export), "--cert", cert])
    assert ok.exit_code == 0, ok.output
    assert "signed by" in ok.output
    lines = export.read_text(encoding="utf-8").splitlines()
    assert '\\"data\\":{' in lines[2]
    lines[2] = lines[2].replace('\\"data\\":{', '\\"data\\":{\\"forged\\":1,')
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = runner.invoke(app, ["audit", "verify", "--file", str(export), "--cert", cert])
    assert bad.exit_code == 1
    assert "entry 1" in bad.output
    code, output = _cli(sandbox, DISTRICT, "audit", "prove", "1")
    assert code == 0, output
    proof = json.loads(output)
    assert proof["seq"] == 1
    assert proof["tree_size"] > 1


def test_report_egov(sandbox: Sandbox, exchanged: str, tmp_path: Path) -> None:
    today = dt.date.today()
    period = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    code, output = _cli(sandbox, DISTRICT, "report", "egov", "--period", period, "--format", "json")
    assert code == 0, output
    data = json.loads(output)
    assert data["received_total"] == 1
    assert data["received_acknowledged"] == 1
    assert data["share_acknowledged"] == 1.0
    assert data["accepted"] == 1
    assert data["median_hours_to_acceptance"] is not None
    month = f"{today.year:04d}-{today.month:02d}"
    assert data["received_by_month"][month] == 1
    code, output = _cli(sandbox, COMMUNE, "report", "egov", "--period", period, "--format", "json")
    assert json.loads(output)["sent_by_month"][month] == 1
    html_file = tmp_path / "r.html"
    code, _ = _cli(sandbox, DISTRICT, "report", "egov", "--period", period, "-o", str(html_file))
    assert code == 0
    page = html_file.read_text(encoding="utf-8")
    assert "<svg" in page
    assert "<rect" in page
    code, output = _cli(sandbox, DISTRICT, "report", "egov", "--period", period, "--format", "csv")
    assert output.startswith("section,key,value")
    assert _cli(sandbox, DISTRICT, "report", "egov", "--period", "2026-Q5")[0] == 1


def test_daemon_process_health_metrics_and_clean_stop(sandbox: Sandbox, exchanged: str) -> None:
    settings = load_settings(sandbox.offices[DISTRICT].config)
    port = settings.daemon.health_port
    proc = sandbox.start_daemon(DISTRICT)
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None
        assert health.status_code == 200
        assert health.json()["office"] == DISTRICT
        time.sleep(0.5)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert "edoc_last_successful_poll_timestamp_seconds" in metrics
        assert "edoc_outbox_depth" in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (sandbox.offices[DISTRICT].folder / "daemon.log").read_text(encoding="utf-8")
    assert "Đã dừng / stopped" in log
    assert "Traceback" not in log


def test_missing_config_sections_are_clear(tmp_path: Path) -> None:
    config = tmp_path / "edoc.toml"
    config.write_text('[store]\nurl = "sqlite:///x.sqlite3"\n', encoding="utf-8")
    result = runner.invoke(app, ["daemon", "run", "--once", "--config", str(config)])
    assert result.exit_code == 1
    assert "[office]" in result.output or "[axis]" in result.output
    assert "Traceback" not in result.output


def test_sandbox_is_not_left_running(sandbox: Sandbox) -> None:
    """No daemon of this module survives its test (ps shows none for the sandbox)."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(sandbox.offices[DISTRICT].config) not in out


def test_configuration_and_key_changes_are_audited(sandbox: Sandbox, exchanged: str) -> None:
    from edoc_exchange import audit

    config = sandbox.offices[COMMUNE].config

    def events() -> list[str]:
        office = build_office(load_settings(config))
        with office.db.engine.connect() as conn:
            return [
                e.event
                for e in audit.entries(conn, COMMUNE)
                if e.event in ("config_changed", "key_changed")
            ]

    before = events()
    assert before.count("config_changed") == 1  # recorded once, though run several times
    assert before.count("key_changed") == 1
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("outbound_interval = 0.2", "outbound_interval = 0.25"), encoding="utf-8"
    )
    try:
        assert _cli(sandbox, COMMUNE, "daemon", "run", "--once")[0] == 0
    finally:
        config.write_text(text, encoding="utf-8")
    assert events() == [*before, "config_changed"]
