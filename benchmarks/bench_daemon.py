"""Incoming documents per second through real daemons, and the audit log's verification rate.

1. Daemon, end to end: N signed documents wait at a local axis (its own process); ``edoc
   daemon run`` processes fetch, verify, store (with the status 01 reply queued in the same
   transaction) and acknowledge them, on SQLite with 1 process and on one PostgreSQL
   database with 1, 2 and 4 processes. The status replies are *not* sent inside the timed
   window (the outbound loop is idle), so the figure is the receiving path alone.
   The axis is paused (SIGSTOP) while the daemons start and resumed when all of them answer
   /healthz, so that start-up time is not counted and every process starts together; the
   window ends when the axis lists nothing more (everything acknowledged). Baseline: the
   same number of documents listed, fetched and acknowledged by one bare ``AxisClient`` loop
   (no verification, no storage), in the same run.
2. Audit verification: ``audit.verify_database`` over an office's log of 100,000 entries on
   SQLite (with one signed checkpoint at the end), against the baseline of hashing the same
   entry bodies with raw SHA-256.

Machines are noisy: read the ratios, not the absolute figures. After each daemon run the
script checks that every document is in the inbox exactly once and exits 1 if not.

Usage: ``python benchmarks/bench_daemon.py [--quick]`` (quick: 100 documents, 10,000
entries). Needs Debian's PostgreSQL server binaries (the tests' throwaway server is reused).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _bench import COMMUNE, DISTRICT, document
from postgres import PostgresServer, find_pg_bin, postgres_server

from edoc_exchange import audit, signing
from edoc_exchange.axis import AxisClient, MessageType
from edoc_exchange.config import load_settings
from edoc_exchange.office import load_signer
from edoc_exchange.sandbox import Sandbox, TestIdentity, free_port, new_test_identity
from edoc_exchange.store import InboxVerdict, open_database, upgrade
from edoc_exchange.store.tables import audit_entries, audit_heads, inbox

OFFICES = [(COMMUNE, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện Bắc Hà")]
#: Fast inbound polling; the outbound loop runs once at start and then stays idle.
DAEMON = {"inbound_interval": 0.1, "outbound_interval": 3600.0, "directory_interval": 3600.0}
TIMEOUT = 600.0





class Exchange:
    """A sandbox (axis process, keys, configs) with N signed documents waiting for the district."""

    def __init__(self, root: Path, count: int, store_url: str | None) -> None:
        urls = {DISTRICT: store_url} if store_url else None
        self.sandbox = Sandbox.create(root, OFFICES, store_urls=urls, daemon=DAEMON)
        self.store_url = (
            store_url or f"sqlite:///{self.sandbox.offices[DISTRICT].folder}/edoc.sqlite3"
        )
        settings = load_settings(self.sandbox.offices[COMMUNE].config)
        signer = load_signer(settings.signing)
        assert signer is not None
        messages = [signing.sign(document(n + 1), signer) for n in range(count)]
        self.size = sum(len(m) for m in messages) / count
        self.count = count
        self.axis = self.sandbox.start_axis()
        self.district = AxisClient(
            load_settings(self.sandbox.offices[DISTRICT].config).require_axis()
        )
        with AxisClient(settings.require_axis()) as commune:
            for data in messages:
                commune.send(data)

    def close(self) -> None:
        self.district.close()
        self.axis.send_signal(signal.SIGCONT)  # a stopped process would not see SIGTERM
        self.axis.terminate()
        self.axis.wait(timeout=30)


def baseline(work: Path, count: int) -> float:
    """Documents/s of list + fetch + acknowledge by one bare AxisClient loop."""
    ex = Exchange(work / "baseline", count, None)
    try:
        started = time.perf_counter()
        items = ex.district.list_received(MessageType.EDOC)
        for item in items:
            ex.district.fetch(item.doc_id)
            ex.district.acknowledge(item.doc_id)
        elapsed = time.perf_counter() - started
        if len(items) != count or ex.district.count() != 0:
            raise SystemExit(f"baseline: expected {count} items, got {len(items)}")
    finally:
        ex.close()
    return count / elapsed


def _wait_healthy(ports: list[int], procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    waiting = set(ports)
    while waiting:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a daemon exited with {proc.returncode} while starting")
        for port in list(waiting):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                waiting.discard(port)
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise SystemExit("the daemons did not start within 60 s")
        time.sleep(0.05)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _statements(store_url: str) -> int | None:
    """SQL statements the database has run since the last reset (pg_stat_statements,
    BEGIN and COMMIT included); None on SQLite."""
    if not store_url.startswith("postgresql"):
        return None
    engine = create_engine(store_url)
    with engine.connect() as conn:
        calls = conn.execute(
            text(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query NOT LIKE '%pg_stat_statements%'"
            )
        ).scalar_one()
        if os.environ.get("EDOC_BENCH_SQL"):  # which statements: for finding what to cut
            for row in conn.execute(
                text(
                    "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 150) "
                    "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) ORDER BY calls DESC LIMIT 25"
                )
            ):
                print(f"    {row[0]:6d}  {row[1]}", file=sys.stderr)
    engine.dispose()
    return int(calls)


def _reset_statements(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        return
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        conn.execute(text("SELECT pg_stat_statements_reset()"))
    engine.dispose()


class Run:
    """One end-to-end run: documents/s, CPU seconds per document (all daemon processes),
    and SQL statements per document (PostgreSQL)."""

    def __init__(self, rate: float, cpu_per_doc: float, statements: int | None, count: int):
        self.rate = rate
        self.cpu_per_doc = cpu_per_doc
        self.statements_per_doc = statements / count if statements is not None else None


def daemons(work: Path, label: str, count: int, processes: int, store_url: str | None) -> Run:
    """Documents/s received end to end by ``processes`` daemons of the district."""
    ex = Exchange(work / label, count, store_url)
    procs: list[subprocess.Popen[bytes]] = []
    cpu = 0.0
    try:
        upgrade(open_database(ex.store_url))  # migrations are not part of the figure
        ex.axis.send_signal(signal.SIGSTOP)
        ports = [free_port() for _ in range(processes)]
        for n, port in enumerate(ports):
            env = {"EDOC_DAEMON__WORKER": f"{label}-{n}", "EDOC_DAEMON__HEALTH_PORT": str(port)}
            log = work / f"{label}-{n}.log"
            procs.append(ex.sandbox.start_daemon(DISTRICT, log=log, env=env))
        _wait_healthy(ports, procs)
        _reset_statements(ex.store_url)
        cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
        started = time.perf_counter()
        ex.axis.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + TIMEOUT
        while ex.district.count() != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"{label}: not drained after {TIMEOUT:.0f} s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = sum(_cpu_seconds(p.pid) for p in procs) - cpu_before
        statements = _statements(ex.store_url)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        ex.close()
    db = open_database(ex.store_url)
    with db.engine.connect() as conn:
        rows = conn.execute(select(inbox.c.document_id, inbox.c.verdict)).all()
    db.dispose()
    if (
        len(rows) != count
        or len({r.document_id for r in rows}) != count
        or any(r.verdict != InboxVerdict.VERIFIED for r in rows)
    ):
        raise SystemExit(f"{label}: {len(rows)} inbox rows for {count} documents")
    return Run(count / elapsed, cpu / count, statements, count)


class _CheckpointSigner:
    """Signs the benchmark log's checkpoint with a test key (RSA PKCS#1 v1.5 or ECDSA)."""

    def __init__(self, identity: TestIdentity) -> None:
        self._identity = identity

    @property
    def certificate_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self._identity.cert.public_bytes(Encoding.PEM)

    def sign_bytes(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        key: Any = self._identity.key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return bytes(key.sign(data, ec.ECDSA(hashes.SHA256())))


def _entry_rows(count: int) -> Iterator[dict[str, Any]]:
    """Rows exactly as ``audit.append`` writes them (the verifier checks that they are)."""
    prev = audit.log.GENESIS
    start = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    for seq in range(count):
        at = start + dt.timedelta(seconds=seq)
        body = audit.canonical_json(
            {
                "seq": seq,
                "office": DISTRICT,
                "event": "received",
                "time": at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "data": {
                    "axis_doc_id": f"{seq:032x}",
                    "document_id": f"{COMMUNE},2026/07/01,{seq}/BC-UBND",
                    "from": COMMUNE,
                    "sha256": hashlib.sha256(str(seq).encode()).hexdigest(),
                },
                "prev": prev,
            }
        )
        entry_hash = hashlib.sha256(body).hexdigest()
        yield {
            "office_id": DISTRICT,
            "seq": seq,
            "event": "received",
            "body": body.decode("utf-8"),
            "prev_hash": prev,
            "entry_hash": entry_hash,
            "created_at": at,
        }
        prev = entry_hash


def audit_rates(work: Path, count: int) -> tuple[float, float]:
    """(entries/s of verify_database, entries/s of raw sha256 over the same bodies)."""
    db = open_database(f"sqlite:///{work / 'audit.sqlite3'}")
    upgrade(db)
    with db.transaction() as conn:
        batch: list[dict[str, Any]] = []
        last = ""
        for row in _entry_rows(count):
            batch.append(row)
            last = row["entry_hash"]
            if len(batch) == 10_000:
                conn.execute(insert(audit_entries), batch)
                batch = []
        if batch:
            conn.execute(insert(audit_entries), batch)
        conn.execute(insert(audit_heads).values(office_id=DISTRICT, size=count, last_hash=last))
        identity = new_test_identity(organ_id=DISTRICT, name="UBND huyện Bắc Hà")
        audit.make_checkpoint(conn, DISTRICT, _CheckpointSigner(identity))
    anchor = audit.OfficeCertificate((identity.cert,))
    with db.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(audit_entries)).scalar_one()
        bodies = [e.body for e in audit.entries(conn, DISTRICT)]
    assert stored == count

    def timed(func: Callable[[], object]) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            func()
            best = min(best, time.perf_counter() - started)
        return best

    def verify() -> None:
        report = audit.verify_database(db, DISTRICT, anchor=anchor, max_uncovered=count)
        if report.entries != count or report.signed_checkpoints != 1:
            raise SystemExit(f"audit: verified {report.entries} entries of {count}")

    def raw() -> None:
        for body in bodies:
            hashlib.sha256(body).digest()

    verify_s, raw_s = timed(verify), timed(raw)
    db.dispose()
    return count / verify_s, count / raw_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 documents, 10,000 entries")
    args = parser.parse_args()
    count = 100 if args.quick else 1000
    entries = 10_000 if args.quick else 100_000
    if find_pg_bin() is None:
        raise SystemExit("PostgreSQL server binaries not found; run scripts/install.sh --dev")

    with tempfile.TemporaryDirectory(prefix="edoc-bench-") as tmp:
        work = Path(tmp)
        base = baseline(work, count)
        results: list[tuple[str, Run]] = [
            ("SQLite,     1 process  ", daemons(work, "sqlite-1", count, 1, None)),
        ]
        server: PostgresServer
        with postgres_server(preload=("pg_stat_statements",)) as server:
            for processes in (1, 2, 4):
                url = server.create_database(f"bench_{processes}")
                label = f"PostgreSQL, {processes} process{'es' if processes > 1 else '  '}"
                results.append((label, daemons(work, f"pg-{processes}", count, processes, url)))
        verify_rate, raw_rate = audit_rates(work, entries)

    print(f"daemon end to end, {count} signed documents of about 6 KB waiting at the local axis")
    print(
        "(fetched -> verified -> stored with status 01 queued -> acknowledged; "
        "the status replies are sent after the window)"
    )
    print(f"  baseline: bare AxisClient list+fetch+ack, 1 process: {base:8.1f} documents/s")
    for label, run in results:
        line = (
            f"  {label}: {run.rate:8.1f} documents/s   ratio to baseline {run.rate / base:5.2f}x"
            f"   CPU {run.cpu_per_doc * 1000:5.1f} ms/document"
        )
        if run.statements_per_doc is not None:
            line += f"   {run.statements_per_doc:5.1f} SQL statements/document"
        print(line)
    pg = {label.split(",")[1].strip(): run for label, run in results if label.startswith("Postgre")}
    one, four = pg["1 process"], pg["4 processes"]
    print(
        f"  PostgreSQL 4 processes vs 1: throughput {four.rate / one.rate:.2f}x (target >= 1.0x), "
        f"CPU per document {four.cpu_per_doc / one.cpu_per_doc:.2f}x (target <= 1.15x)"
    )
    sqlite_run = results[0][1]
    print(f"  SQLite ingest vs bare baseline: {sqlite_run.rate / base:.2f}x (target >= 0.8x)")
    statements = [r.statements_per_doc for _, r in results if r.statements_per_doc is not None]
    print(
        "  SQL statements per incoming document on PostgreSQL (pg_stat_statements, "
        f"BEGIN/COMMIT included): {', '.join(f'{n:.1f}' for n in statements)} (target <= 14)"
    )
    print(
        f"audit verification, {entries:,} entries on SQLite (1 signed checkpoint): "
        f"{verify_rate:,.0f} entries/s | raw sha256 of the same bodies {raw_rate:,.0f} "
        f"entries/s | ratio {verify_rate / raw_rate:.3f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
