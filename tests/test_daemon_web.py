"""``edoc daemon run`` with ``[web] enabled``: a real daemon process serves the office's pages
beside its loops, says where, and stops serving them when it stops."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES

from edoc_exchange.sandbox import Sandbox, free_port


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox.create(
        tmp_path / "box",
        [(COMMUNE_A, NAMES[COMMUNE_A]), (DISTRICT, NAMES[DISTRICT])],
        daemon={"inbound_interval": 0.5, "outbound_interval": 0.5, "stop_timeout": 10.0},
    )
    axis = box.start_axis()
    try:
        yield box
    finally:
        axis.terminate()
        axis.wait(30)


def test_the_daemon_serves_the_pages_when_web_is_enabled(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    health, web = free_port(), free_port()
    log = tmp_path / "daemon.log"
    proc = sandbox.start_daemon(
        DISTRICT,
        log=log,
        health_port=health,
        env={"EDOC_WEB__ENABLED": "true", "EDOC_WEB__PORT": str(web)},
    )
    try:
        sandbox.wait_for_daemon(proc, health)  # ready: the pages are served by then
        login = httpx.get(f"http://127.0.0.1:{web}/login", timeout=10)
        assert login.status_code == 200
        assert "Đăng nhập" in login.text
        assert NAMES[DISTRICT] in login.text
        assert "content-security-policy" in login.headers
        anonymous = httpx.get(f"http://127.0.0.1:{web}/egov", timeout=10)
        assert anonymous.status_code == 303
        assert f"edoc web: the office's pages at http://127.0.0.1:{web}" in log.read_text(
            encoding="utf-8"
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text(encoding="utf-8")
    assert "Traceback" not in text, text
    assert "Đã dừng / stopped" in text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{web}/login", timeout=5)


def test_a_taken_port_stops_the_start_with_a_clear_message(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    log = tmp_path / "daemon.log"
    try:
        proc = sandbox.start_daemon(
            DISTRICT, log=log,
            env={"EDOC_WEB__ENABLED": "true", "EDOC_WEB__PORT": str(port)},
        )
        code = proc.wait(60)
    finally:
        taken.close()
    text = log.read_text(encoding="utf-8")
    assert code != 0, text
    assert "Traceback" not in text, text
    assert "cổng đã có chương trình khác dùng" in text, text
