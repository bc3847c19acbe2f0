"""The clerk's commands against the local axis, through typer's CliRunner; `edoc axis
serve` in a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from axis_fixtures import (
    COMMUNE_A,
    DISTRICT,
    NAMES,
    SYSTEMS,
    RunningAxis,
    document_id_of,
    local_axis,
    make_document,
    write_directory,
)
from sqlalchemy import select
from typer.testing import CliRunner

import edoc_exchange.cli.axis  # noqa: F401  (registers the commands on the shared app)
from edoc_exchange import audit, edxml
from edoc_exchange.axis import AxisClient
from edoc_exchange.cli import app
from edoc_exchange.config import AxisSettings
from edoc_exchange.store import open_database
from edoc_exchange.store.tables import outbox

__all__ = ["local_axis"]

runner = CliRunner()


def _config(axis: RunningAxis, systemid: str, tmp_path: Path) -> Path:
    """An office's config: the axis, and the office and store `send` registers in."""
    secret, organs = SYSTEMS[systemid]
    path = tmp_path / f"{systemid}.toml"
    path.write_text(
        f'[axis]\nendpoint = "{axis.url}"\nsystemid = "{systemid}"\nsecret = "{secret}"\n'
        f'organ_id = "{organs[0]}"\ntimeout = 10\nretries = 1\nbackoff_initial = 0.01\n'
        f'download_folder = "dl-{systemid}"\n'
        f'[office]\norgan_id = "{organs[0]}"\nname = "{NAMES[organs[0]]}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / f"{systemid}.sqlite3"}"\n',
        encoding="utf-8",
    )
    return path


def test_clerk_round_trip(local_axis: RunningAxis, tmp_path: Path) -> None:
    commune = _config(local_axis, "xa-a", tmp_path)
    district = _config(local_axis, "huyen", tmp_path)
    # A 2 MB message: large enough for the progress bar path.
    doc = make_document(COMMUNE_A, [DISTRICT], "15", attachment_size=2 * 1024 * 1024)
    file = tmp_path / "bao-cao.edxml"
    edxml.write_file(doc, file)

    result = runner.invoke(app, ["send", str(file), "--config", str(commune)])
    assert result.exit_code == 0, result.output
    doc_id = result.output.split("DocId: ")[1].split()[0]
    assert f"{COMMUNE_A} -> {DISTRICT}" in result.output

    result = runner.invoke(app, ["inbox", "--config", str(district)])
    assert result.exit_code == 0, result.output
    assert "1 mục / items" in result.output
    [item] = local_axis.client("huyen").list_received()

    target = tmp_path / "got.edxml"
    result = runner.invoke(app, ["fetch", item.doc_id, "-o", str(target), "-c", str(district)])
    assert result.exit_code == 0, result.output
    assert document_id_of(target.read_bytes()) == doc.document_id

    result = runner.invoke(app, ["fetch", item.doc_id, "-c", str(district)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dl-huyen" / f"{item.doc_id}.edxml").is_file()

    result = runner.invoke(app, ["ack", item.doc_id, "--done", "-c", str(district)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["inbox", "-c", str(district)])
    assert "Không có văn bản đến / nothing waiting" in result.output

    result = runner.invoke(app, ["sent", doc_id, "--json", "-c", str(commune)])
    assert result.exit_code == 0, result.output
    assert '"receive_status": "done"' in result.output

    result = runner.invoke(app, ["inbox", "--status", "-c", str(commune)])
    assert result.exit_code == 0, result.output


def test_agencies_search_ignores_diacritics(local_axis: RunningAxis, tmp_path: Path) -> None:
    config = _config(local_axis, "xa-a", tmp_path)
    result = runner.invoke(app, ["agencies", "--search", "nam khanh", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert COMMUNE_A in result.output
    assert "1 cơ quan" in result.output


@pytest.mark.parametrize("flags", [[], ["--done", "--fail"]])
def test_ack_needs_exactly_one_flag(flags: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["ack", "X", *flags])
    assert result.exit_code == 2


def test_errors_are_bilingual_without_traceback_or_secret(
    local_axis: RunningAxis, tmp_path: Path
) -> None:
    config = _config(local_axis, "xa-a", tmp_path)
    config.write_text(config.read_text().replace("secret-commune-a", "wrong-secret-xyz"))
    result = runner.invoke(app, ["inbox", "-c", str(config)])
    assert result.exit_code == 1
    assert "Lỗi / Error" in result.output
    assert "AUTH_BAD_HMAC" in result.output
    assert "Traceback" not in result.output
    assert "wrong-secret-xyz" not in result.output


def test_missing_axis_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("EDOC_"):
            monkeypatch.delenv(key)
    result = runner.invoke(app, ["inbox"])
    assert result.exit_code == 1
    assert "EDOC_AXIS__ENDPOINT" in result.output


def test_send_refuses_an_invalid_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.edxml"
    bad.write_bytes(b"<nope/>")
    result = runner.invoke(app, ["send", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_axis_serve_subprocess(tmp_path: Path) -> None:
    write_directory(tmp_path / "agencies.csv")
    systems = "\n".join(
        f'[[systems]]\nsystemid = "{s}"\nsecret = "{secret}"\norgan_ids = {organs!r}\n'
        for s, (secret, organs) in SYSTEMS.items()
    ).replace("'", '"')
    (tmp_path / "local-axis.toml").write_text(
        f'database = "db/axis.db"\ndirectory = "agencies.csv"\n{systems}', encoding="utf-8"
    )
    port = _free_port()
    code = ("import edoc_exchange.cli.axis; from edoc_exchange.cli import app; "
            "app(prog_name='edoc')")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "axis", "serve", "--config",
         str(tmp_path / "local-axis.toml"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        settings = AxisSettings(endpoint=f"http://127.0.0.1:{port}", systemid="huyen",
                                secret=SYSTEMS["huyen"][0], retries=0, timeout=2)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("local axis did not start") from None
                time.sleep(0.1)
        with AxisClient(settings) as client:
            assert client.count() == 0
            assert len(client.agencies()) == 4
        assert (tmp_path / "db" / "axis.db").is_file()
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode("utf-8", "replace")
    assert "secret-" not in output


def _outbox_and_events(tmp_path: Path, systemid: str) -> tuple[list[Any], list[str]]:
    db = open_database(f"sqlite:///{tmp_path / f'{systemid}.sqlite3'}")
    try:
        with db.engine.connect() as conn:
            rows = list(conn.execute(select(outbox)))
            events = [e.event for e in audit.entries(conn, SYSTEMS[systemid][1][0])]
    finally:
        db.dispose()
    return rows, events


def test_a_manual_send_goes_through_the_outbox(local_axis: RunningAxis, tmp_path: Path) -> None:
    commune = _config(local_axis, "xa-a", tmp_path)
    file = tmp_path / "ke-hoach.edxml"
    doc = make_document(COMMUNE_A, [DISTRICT], "21")
    edxml.write_file(doc, file)
    result = runner.invoke(app, ["send", str(file), "-c", str(commune)])
    assert result.exit_code == 0, result.output
    doc_id = result.output.split("DocId: ")[1].split()[0]
    rows, events = _outbox_and_events(tmp_path, "xa-a")
    assert [(r.state, r.axis_doc_id, r.document_id) for r in rows] == [
        ("sent", doc_id, doc.document_id)
    ]
    assert events[-2:] == ["queued", "sent"]
    # The same file again: recognised, not queued twice, the same DocId.
    again = runner.invoke(app, ["send", str(file), "-c", str(commune)])
    assert again.exit_code == 0, again.output
    assert f"DocId: {doc_id} (đã gửi trước đó / already sent)" in again.output
    assert len(_outbox_and_events(tmp_path, "xa-a")[0]) == 1
    # The clerk's status command sees it, as any daemon send.
    status = runner.invoke(app, ["status", str(doc.document_id), "--json", "-c", str(commune)])
    assert status.exit_code == 0, status.output
    assert '"state": "sent"' in status.output


def test_a_manual_send_of_another_office_is_refused(
    local_axis: RunningAxis, tmp_path: Path
) -> None:
    commune = _config(local_axis, "xa-a", tmp_path)
    file = tmp_path / "of-the-district.edxml"
    edxml.write_file(make_document(DISTRICT, [COMMUNE_A], "3"), file)
    result = runner.invoke(app, ["send", str(file), "-c", str(commune)])
    assert result.exit_code == 1
    assert DISTRICT in result.output
    assert "Traceback" not in result.output
    assert _outbox_and_events(tmp_path, "xa-a")[0] == []


def test_a_manual_send_with_the_axis_down_stays_queued(
    local_axis: RunningAxis, tmp_path: Path
) -> None:
    commune = _config(local_axis, "xa-a", tmp_path)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    commune.write_text(commune.read_text().replace(local_axis.url, dead))
    file = tmp_path / "ke-hoach.edxml"
    edxml.write_file(make_document(COMMUNE_A, [DISTRICT], "22"), file)
    result = runner.invoke(app, ["send", str(file), "-c", str(commune)])
    assert result.exit_code == 1
    assert "kept in the outbox" in result.output
    rows, events = _outbox_and_events(tmp_path, "xa-a")
    assert [r.state for r in rows] == ["queued"]
    assert rows[0].last_error
    assert events[-1] == "send_failed"
