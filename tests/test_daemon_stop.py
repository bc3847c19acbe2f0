"""Bounded stops of real ``edoc daemon run`` processes (a sandbox config, the local axis).

A SIGTERM at any moment after start — while Python is still importing, while the store
migrates, while the configuration is recorded, or once the loops run — is a clean stop:
exit 0, no traceback, every worker row of the store says it stopped. With 1,000 documents
waiting at the axis, a SIGTERM ends the daemon after the item in hand, within the
configured bound, and the next start takes the rest at once (stale_after is ten minutes
here: nothing may wait for it).
"""

from __future__ import annotations

import signal
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES, make_document
from sqlalchemy import func, select

from edoc_exchange import signing
from edoc_exchange.axis import AxisClient, MessageType
from edoc_exchange.config import load_settings
from edoc_exchange.office import load_signer
from edoc_exchange.sandbox import Sandbox, free_port
from edoc_exchange.store import open_database
from edoc_exchange.store.tables import inbox, inbox_claims, workers

#: Real daemon processes, a few seconds each (the inner loop skips them: -m "not slow").
pytestmark = pytest.mark.slow

#: How long the daemon may take to exit after SIGTERM at a quiet moment: generous, for a
#: loaded machine (it takes about a second).
EXIT_WITHIN = 60.0
STOP_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("stop-sandbox")
    box = Sandbox.create(
        root,
        [(COMMUNE_A, NAMES[COMMUNE_A]), (DISTRICT, NAMES[DISTRICT])],
        daemon={
            "inbound_interval": 0.2,
            "outbound_interval": 0.2,
            "directory_interval": 3600.0,
            "stale_after": 600.0,
            "stop_timeout": STOP_TIMEOUT,
        },
    )
    axis = box.start_axis()
    try:
        yield box
    finally:
        axis.terminate()
        axis.wait(30)


def _store(box: Sandbox) -> Any:
    return open_database(f"sqlite:///{box.offices[DISTRICT].folder / 'edoc.sqlite3'}")


def _unstopped_workers(box: Sandbox) -> list[Any]:
    path = box.offices[DISTRICT].folder / "edoc.sqlite3"
    if not path.exists():
        return []
    db = _store(box)
    try:
        with db.read() as conn:
            names = set(conn.dialect.get_table_names(conn))
            if "workers" not in names:
                return []
            return list(conn.execute(select(workers).where(workers.c.stopped_at.is_(None))))
    finally:
        db.dispose()


def _stop(proc: subprocess.Popen[bytes], within: float = EXIT_WITHIN) -> tuple[int, float]:
    """SIGTERM, then the exit code and how long the exit took."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        pytest.fail(f"the daemon did not exit within {within:.0f} s of SIGTERM")
    return code, time.monotonic() - sent


@pytest.mark.parametrize("moment", [0.1, 0.5, 1.0, 2.0, "ready"])
def test_sigterm_at_any_moment_of_the_start_is_a_clean_stop(
    sandbox: Sandbox, moment: float | str, tmp_path: Path
) -> None:
    log = tmp_path / "daemon.log"
    port = free_port()
    proc = sandbox.start_daemon(DISTRICT, log=log, health_port=port)
    if moment == "ready":
        sandbox.wait_for_daemon(proc, port)
    else:
        assert isinstance(moment, float)
        time.sleep(moment)  # the stimulus: a signal this long after exec, not a wait
    code, _elapsed = _stop(proc)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, text
    assert "Traceback" not in text, text
    assert "Đã dừng" in text, text
    assert "stopped" in text, text
    assert _unstopped_workers(sandbox) == [], text


class _Trickle(socketserver.ThreadingTCPServer):
    """An axis that answers every call one byte a second (a dying link, a broken proxy)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TrickleHandler)
        self.closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _TrickleHandler(socketserver.StreamRequestHandler):
    server: _Trickle

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b" " * 100
        for byte in answer:
            if self.server.closing.wait(1.0):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return


def test_sigterm_while_a_call_hangs_exits_within_stop_timeout(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Loops stuck in calls to an axis that trickles (deadline set far away, 300 s): the
    daemon stops waiting after stop_timeout (2 s), marks its worker stopped, exits 0."""
    trickle = _Trickle()
    thread = threading.Thread(target=trickle.serve_forever, daemon=True)
    thread.start()
    log = tmp_path / "daemon.log"
    port = free_port()
    env = {
        "EDOC_AXIS__ENDPOINT": trickle.url,
        "EDOC_AXIS__DEADLINE": "300",
        "EDOC_DAEMON__STOP_TIMEOUT": "2",
    }
    try:
        proc = sandbox.start_daemon(DISTRICT, log=log, health_port=port, env=env)
        sandbox.wait_for_daemon(proc, port)
        _wait(
            lambda: (sandbox.daemon_health(port) or {}).get("loops", {}).get("inbound", {})
            .get("busy_for") is not None,
            "the inbound loop in a call",
            60,
            proc=proc,
        )
        code, elapsed = _stop(proc)
    finally:
        trickle.closing.set()
        trickle.shutdown()
        trickle.server_close()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, text
    assert "Traceback" not in text, text
    assert "without waiting for" in text, text
    assert "inbound" in text, text
    assert elapsed < 2.0 + 15.0, (elapsed, text)  # the bound, and a slow machine's exit
    assert _unstopped_workers(sandbox) == [], text


def _signed_documents(box: Sandbox, count: int) -> list[bytes]:
    settings = load_settings(box.offices[COMMUNE_A].config)
    signer = load_signer(settings.signing)
    assert signer is not None
    return [
        signing.sign(make_document(COMMUNE_A, [DISTRICT], str(n + 1), attachment_size=500), signer)
        for n in range(count)
    ]


def _count(box: Sandbox, table: Any) -> int:
    db = _store(box)
    try:
        with db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        db.dispose()


DOCUMENTS = 1000


def test_sigterm_with_a_thousand_documents_waiting(tmp_path: Path) -> None:
    box = Sandbox.create(
        tmp_path,
        [(COMMUNE_A, NAMES[COMMUNE_A]), (DISTRICT, NAMES[DISTRICT])],
        daemon={
            "inbound_interval": 0.2,
            "outbound_interval": 0.2,
            "directory_interval": 3600.0,
            "stale_after": 600.0,  # a takeover that waited for staleness would show
            "stop_timeout": STOP_TIMEOUT,
        },
    )
    messages = _signed_documents(box, DOCUMENTS)
    axis = box.start_axis()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        commune = AxisClient(load_settings(box.offices[COMMUNE_A].config).require_axis())
        district = AxisClient(load_settings(box.offices[DISTRICT].config).require_axis())
        with commune, district:
            for data in messages:
                commune.send(data)
            assert district.count(MessageType.EDOC) == DOCUMENTS

            port = free_port()
            log = tmp_path / "first.log"
            procs.append(box.start_daemon(DISTRICT, log=log, health_port=port))
            box.wait_for_daemon(procs[0], port, timeout=120)
            _wait(lambda: _count(box, inbox) >= 20, "20 documents stored", 120)
            code, elapsed = _stop(procs[0], within=STOP_TIMEOUT + 30)
            text = log.read_text(encoding="utf-8", errors="replace")
            stored_at_stop = _count(box, inbox)
            assert code == 0, text
            assert "Traceback" not in text, text
            # Within the bound (the loops stop after their item in hand; the rest is a
            # checkpoint, the worker row and the exit), nowhere near draining the backlog.
            assert elapsed < STOP_TIMEOUT, (elapsed, text)
            assert "không chờ" not in text, text  # a clean stop, nothing abandoned
            assert stored_at_stop < DOCUMENTS, stored_at_stop
            assert district.count(MessageType.EDOC) == DOCUMENTS - stored_at_stop
            assert _unstopped_workers(box) == []

            restarted = time.monotonic()
            port = free_port()
            log = tmp_path / "second.log"
            procs.append(box.start_daemon(DISTRICT, log=log, health_port=port))
            # Drained long before stale_after (600 s): the first run's work was taken at
            # once, because its worker row says it stopped.
            _wait(
                lambda: _count(box, inbox) == DOCUMENTS and district.count(MessageType.EDOC) == 0,
                f"all {DOCUMENTS} documents stored and acknowledged",
                400,
                proc=procs[1],
            )
            drained = time.monotonic() - restarted
            code, _ = _stop(procs[1])
            assert code == 0, log.read_text(encoding="utf-8", errors="replace")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        axis.terminate()
        axis.wait(30)
    assert drained < 600.0
    db = _store(box)
    try:
        with db.read() as conn:
            rows = conn.execute(select(inbox.c.document_id, inbox.c.axis_doc_id)).all()
            claims = conn.execute(select(func.count()).select_from(inbox_claims)).scalar_one()
    finally:
        db.dispose()
    assert len(rows) == DOCUMENTS
    assert len({r.document_id for r in rows}) == DOCUMENTS
    assert len({r.axis_doc_id for r in rows}) == DOCUMENTS
    assert claims == 0
    print(
        f"SIGTERM with {DOCUMENTS - stored_at_stop} waiting: exit in {elapsed:.2f} s "
        f"(bound {STOP_TIMEOUT:.0f} s); restart drained the rest in {drained:.1f} s"
    )


def _wait(
    check: Any, what: str, timeout: float, *, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the daemon exited with {proc.returncode} before {what}")
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"not {what} within {timeout:.0f} s")
