"""/healthz tells the truth per loop, over real HTTP from a real runner: 200 "ok" only when
the store takes writes, no row is stuck and every loop's last pass worked; otherwise 503
"degraded" with a JSON body naming what is wrong — while the store is locked, full,
read-only, the database server down, a row stuck, the axis unreachable. Never a bare 500.

The runner runs in this process (its loops, heartbeat and health server are threads), on
real SQLite files (a loop-mounted ext4 for full and read-only disks) and a throwaway
PostgreSQL; every wait is for a state, with a generous bound, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES, start_axis
from daemon_fixtures import Clock, Exchange, make_office, sqlite_db
from loopfs import loop_filesystem
from postgres import find_pg_bin, postgres_server

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.axis import AxisConnectionError
from edoc_exchange.daemon import Intervals, Runner
from edoc_exchange.sandbox import free_port, new_test_identity
from edoc_exchange.store import open_database, upgrade
from edoc_exchange.store import outbox as outbox_store
from edoc_exchange.store import workers as workers_store

#: Bound on waiting for a state; states come within seconds, a loaded machine only slows.
WAIT = 60.0

FAST = Intervals(
    inbound=0.2,
    outbound=0.2,
    directory=3600.0,
    heartbeat=0.2,
    failed_retry_initial=0.2,
    failed_retry_max=1.0,
)


def _real_time() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Health:
    """A runner of ``office`` with its health server on a free port."""

    def __init__(self, office: steps.Office, **kwargs: Any) -> None:
        office.clock = _real_time
        self.office = office
        self.port = free_port()
        self.runner = Runner(office, FAST, health=("127.0.0.1", self.port), **kwargs)

    def get(self) -> tuple[int, dict[str, Any]]:
        answer = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=10.0)
        assert answer.headers["content-type"] == "application/json", answer.text
        body = answer.json()
        assert isinstance(body, dict)
        return answer.status_code, body

    def wait(self, what: str, check: Callable[[int, dict[str, Any]], bool]) -> dict[str, Any]:
        """Poll /healthz until ``check`` holds; every answer must be 200 or 503 JSON."""
        deadline = time.monotonic() + WAIT
        last: tuple[int, dict[str, Any]] | None = None
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                last = self.get()
                code, body = last
                assert code in (200, 503), (code, body)
                assert body["status"] == ("ok" if code == 200 else "degraded"), body
                if check(code, body):
                    return body
            time.sleep(0.1)
        pytest.fail(f"/healthz never showed {what} within {WAIT:.0f} s; last answer: {last}")

    def ok(self) -> dict[str, Any]:
        return self.wait("ok", lambda code, body: code == 200)

    def degraded(self, needle: str) -> dict[str, Any]:
        return self.wait(
            f"degraded naming {needle!r}",
            lambda code, body: code == 503 and any(needle in p for p in body["problems"]),
        )


@contextlib.contextmanager
def running(office: steps.Office, **kwargs: Any) -> Iterator[Health]:
    health = Health(office, **kwargs)
    health.runner.start()
    try:
        yield health
    finally:
        health.runner.stop(timeout=15.0)


def _all_loops_passed(code: int, body: dict[str, Any]) -> bool:
    return code == 200 and all(loop["last_success"] for loop in body["loops"].values())


def test_healthz_is_ok_when_everything_works(exchange: Exchange) -> None:
    with running(exchange.district) as health:
        body = health.wait("every loop passed", _all_loops_passed)
    assert body["problems"] == []
    assert body["store"]["writable"] is True
    assert body["axis"]["reachable"] is True
    assert body["worker_id"] == exchange.district.worker_id
    assert body["stuck"] is None


def test_healthz_is_degraded_while_the_store_is_locked(exchange: Exchange, tmp_path: Path) -> None:
    """Another process holds SQLite's write lock: the heartbeat (a real write) waits, and
    /healthz says so at once instead of answering "ok" from memory; then it recovers."""
    with running(exchange.district) as health:
        health.wait("every loop passed", _all_loops_passed)
        holder = sqlite3.connect(tmp_path / "district.sqlite3", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            body = health.degraded("store:")
            assert body["store"]["writable"] is False or any(
                "waited" in p for p in body["problems"]
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        health.wait("every loop passed again", _all_loops_passed)


def test_healthz_names_a_stuck_row(exchange: Exchange) -> None:
    """A row held longer than stale_after by a worker that is alive (a hung upload) is
    never reclaimed, and /healthz names it."""
    office = exchange.commune
    office.stale_after = dt.timedelta(seconds=2)
    with running(office) as health:
        health.ok()
        steps.queue_message(office, edxml.write(exchange.plan("61")))
        with office.db.transaction() as conn:
            # Queued and taken in one transaction: the outbound loop never sees it queued.
            row = outbox_store.claim_next(
                conn, worker=office.worker, worker_id=office.worker_id, now=office.clock()
            )
        if row is None:  # the loop was quicker: claim another, it cannot be in between
            steps.queue_message(office, edxml.write(exchange.plan("62")))
            with office.db.transaction() as conn:
                row = outbox_store.claim_next(
                    conn, worker=office.worker, worker_id=office.worker_id, now=office.clock()
                )
        assert row is not None
        body = health.degraded(f"stuck: outbox {row.id}")
    assert body["stuck"]["kind"] == "outbox"
    assert body["stuck"]["holder"] == office.worker


def test_healthz_names_the_axis_and_the_loop_when_the_axis_is_down(exchange: Exchange) -> None:
    with running(exchange.district) as health:
        health.wait("every loop passed", _all_loops_passed)
        exchange.axis.server.stop()
        body = health.degraded("inbound:")
    assert body["axis"]["reachable"] is False
    assert "inbound" in body["axis"]["failing_loops"]
    assert body["store"]["writable"] is True  # the store is fine: only the axis is named


def test_a_failed_directory_refresh_is_retried_within_minutes(exchange: Exchange) -> None:
    """The directory loop's interval is a day; after a failure it retries with the loops'
    backoff (here 0.2 s doubling), not a day later."""
    office = exchange.district
    original = office.axis.agencies
    failures: list[float] = []

    def flaky() -> Any:
        if len(failures) < 2:
            failures.append(time.monotonic())
            raise AxisConnectionError("mất kết nối", "connection lost", operation="agencies")
        return original()

    office.axis.agencies = flaky  # type: ignore[method-assign]
    with running(office) as health:
        body = health.wait(
            "the directory refreshed",
            lambda code, body: body["loops"]["directory"]["last_success"] is not None,
        )
    assert len(failures) == 2
    assert body["loops"]["directory"]["failures"] == 0


def test_healthz_is_never_a_bare_500(exchange: Exchange) -> None:
    """Even a bug in building the report answers 503 with a JSON body that says so."""
    with running(exchange.district) as health:
        health.ok()

        def broken() -> dict[str, Any]:
            raise RuntimeError("a bug")

        health.runner.health_report = broken  # type: ignore[method-assign]
        code, body = health.get()
    assert (code, body["status"]) == (503, "degraded")
    assert body["problems"] == ["health: RuntimeError: a bug"]


def test_a_stop_is_bounded_when_a_loop_hangs(exchange: Exchange) -> None:
    """A loop stuck in a call does not hold the stop: past stop_timeout the runner marks
    the worker stopped without releasing (the loop may still write) and returns."""
    office = exchange.district
    release = threading.Event()
    entered = threading.Event()
    original = office.axis.list_received

    def hang(*args: Any) -> Any:
        entered.set()
        release.wait(120)
        return original(*args)

    office.axis.list_received = hang  # type: ignore[method-assign,assignment]
    health = Health(office, stop_timeout=1.0)
    health.runner.start()
    try:
        assert entered.wait(WAIT)
        started = time.monotonic()
        report = health.runner.stop()
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert report.busy == ("inbound",)
    assert not report.clean
    assert elapsed < 1.0 + 10.0  # the bound, plus the final writes on a loaded machine
    with office.db.read() as conn:
        [worker] = workers_store.workers_of(conn, office.worker)
    assert worker["stopped_at"] is not None


@pytest.fixture
def disk_office(tmp_path: Path) -> Iterator[tuple[Any, steps.Office]]:
    """The district's office with its store on a small loop-mounted ext4 (and its own
    local axis): a disk that can fill up or fail."""
    with loop_filesystem(tmp_path / "disk", size_mb=32) as fs:
        (tmp_path / "axis").mkdir()
        axis = start_axis(tmp_path / "axis")
        identity = new_test_identity(organ_id=DISTRICT, name=NAMES[DISTRICT])
        db = sqlite_db(fs.mountpoint / "district.sqlite3")
        office = make_office(
            axis, "huyen", DISTRICT, db, identity, [identity.ca_cert], Clock(), "district-1"
        )
        try:
            yield fs, office
        finally:
            db.dispose()
            axis.close()


def test_healthz_is_degraded_while_the_disk_is_full(
    disk_office: tuple[Any, steps.Office],
) -> None:
    disk, office = disk_office
    with running(office, min_free_bytes=2 * 1024 * 1024) as health:
        health.ok()
        filler = disk.fill(leave_bytes=256 * 1024)
        body = health.degraded("store: only")
        assert body["store"]["free_bytes"] < 2 * 1024 * 1024
        filler.unlink()
        health.ok()


def test_healthz_is_degraded_while_the_disk_has_failed_read_only(
    disk_office: tuple[Any, steps.Office],
) -> None:
    """A disk error makes the kernel turn the filesystem read-only: every write fails, and
    /healthz says so (with the store's own bilingual error), for as long as it lasts."""
    disk, office = disk_office
    with running(office, min_free_bytes=2 * 1024 * 1024) as health:
        health.ok()
        disk.fail()
        body = health.degraded("store: not writable")
    assert body["store"]["writable"] is False
    assert any("disk I/O error" in p or "đĩa" in p for p in body["problems"]), body


def _pg_ctl(server: Any, *args: str) -> None:
    pg_bin = find_pg_bin()
    assert pg_bin is not None
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*prefix, str(pg_bin / "pg_ctl"), "-D", str(server.data_dir), *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_healthz_is_degraded_while_postgresql_is_down(tmp_path: Path) -> None:
    """The province's server goes down: writes fail with the store's own error (not a
    driver traceback), /healthz answers 503 naming the store; it comes back, so does ok."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/install.sh --dev)")
    with postgres_server() as server:
        url = server.create_database("health_down")
        db = open_database(url)
        upgrade(db)
        axis = start_axis(tmp_path)
        identity = new_test_identity(organ_id=COMMUNE_A, name=NAMES[COMMUNE_A])
        office = make_office(
            axis, "xa-a", COMMUNE_A, db, identity, [identity.ca_cert], Clock(), "pg-1"
        )
        with running(office) as health:
            health.ok()
            _pg_ctl(server, "-m", "immediate", "-w", "stop")
            body = health.degraded("store: not writable")
            assert any("database" in p or "cơ sở dữ liệu" in p for p in body["problems"])
            options = (
                f"-c listen_addresses=127.0.0.1 -p {server.port} -k {server.data_dir.parent} "
                "-c fsync=off -c max_connections=200"
            )
            _pg_ctl(server, "-l", str(server.data_dir.parent / "pg.log"), "-w", "-o", options,
                    "start")
            health.ok()
        db.dispose()
        axis.close()
