"""Four daemon processes sharing one PostgreSQL database take 1,000 incoming documents.

Everything is real: a throwaway PostgreSQL server, the local axis and four ``edoc daemon
run`` processes talking HTTP on 127.0.0.1, signed documents verified under the sandbox's
trust roots. The documents are all waiting at the axis before the daemons start, so every
daemon lists the same 1,000 items and they race for each one: this is where a claim that
is not exclusive, a missing unique key or a lock taken in the wrong order would show up as
a duplicate, a loss or a deadlock.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES, make_document
from postgres import PostgresServer
from sqlalchemy import func, select

from edoc_exchange import audit, signing
from edoc_exchange.axis import AxisClient, MessageType
from edoc_exchange.config import load_settings
from edoc_exchange.office import load_signer
from edoc_exchange.sandbox import Sandbox, free_port
from edoc_exchange.signing import read_certificates
from edoc_exchange.store import InboxVerdict, open_database, upgrade
from edoc_exchange.store.tables import inbox, inbox_claims, outbox

DOCUMENTS = 1000
WORKERS = 4
#: Bound on the whole drain; on a 2-core machine it takes well under a minute.
DRAIN_TIMEOUT = 150.0


def _signed_documents(sandbox: Sandbox, count: int) -> list[bytes]:
    """``count`` documents signed with the commune's own sandbox key, built in this process."""
    settings = load_settings(sandbox.offices[COMMUNE_A].config)
    signer = load_signer(settings.signing)
    assert signer is not None
    return [
        signing.sign(make_document(COMMUNE_A, [DISTRICT], str(n + 1), attachment_size=2000), signer)
        for n in range(count)
    ]


def _received_by(port: int) -> int:
    """How many documents one daemon stored, from its own /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = re.findall(
        r'^edoc_documents_received_total\{verdict="[a-z]+"\} ([0-9.e+]+)$', text, re.MULTILINE
    )
    return int(sum(float(v) for v in found))


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
def test_four_daemons_share_1000_documents(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = pg_server.create_database("multiprocess_inbound")
    sandbox = Sandbox.create(
        tmp_path,
        [(COMMUNE_A, NAMES[COMMUNE_A]), (DISTRICT, NAMES[DISTRICT])],
        store_urls={DISTRICT: url},
        daemon={
            "inbound_interval": 0.2,
            "outbound_interval": 0.2,
            "directory_interval": 3600.0,
            "retry_initial": 0.5,
        },
    )
    messages = _signed_documents(sandbox, DOCUMENTS)
    axis = sandbox.start_axis()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        commune = AxisClient(load_settings(sandbox.offices[COMMUNE_A].config).require_axis())
        district = AxisClient(load_settings(sandbox.offices[DISTRICT].config).require_axis())
        with commune, district:
            for data in messages:
                commune.send(data)
            waiting = {item.doc_id for item in district.list_received(MessageType.EDOC)}
            assert len(waiting) == DOCUMENTS

            ports = [free_port() for _ in range(WORKERS)]
            logs = [tmp_path / f"district-{n}.log" for n in range(WORKERS)]
            for n, port in enumerate(ports):
                env = {
                    "EDOC_DAEMON__WORKER": f"district-{n}",
                    "EDOC_DAEMON__HEALTH_PORT": str(port),
                }
                procs.append(sandbox.start_daemon(DISTRICT, log=logs[n], env=env))

            # Migrating here too races the daemons' own migrations: the advisory lock
            # must let exactly one of them create the tables.
            db = open_database(url)
            upgrade(db)
            deadline = time.monotonic() + DRAIN_TIMEOUT
            started = time.monotonic()
            while True:
                for n, proc in enumerate(procs):
                    assert proc.poll() is None, logs[n].read_text(errors="replace")
                with db.engine.connect() as conn:
                    stored = conn.execute(select(func.count()).select_from(inbox)).scalar_one()
                    sent = conn.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.kind == "status", outbox.c.state == "sent")
                    ).scalar_one()
                if stored >= DOCUMENTS and sent >= DOCUMENTS and district.count() == 0:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"after {DRAIN_TIMEOUT:.0f} s: {stored} stored, {sent} "
                        f"statuses sent, {district.count()} still at the axis"
                    )
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            # A daemon counts a group in its metrics just after the group's commit; on a
            # loaded machine another daemon may take over and acknowledge the group (its
            # claim looked stale) before that thread runs again: wait for the counts to
            # settle rather than read them at the instant the axis emptied.
            settle = time.monotonic() + 30
            per_worker = [_received_by(port) for port in ports]
            while sum(per_worker) < DOCUMENTS and time.monotonic() < settle:
                time.sleep(0.2)
                per_worker = [_received_by(port) for port in ports]
            # Nothing was left at the axis: every item was acknowledged.
            assert district.list_received(MessageType.EDOC) == []
    finally:
        _stop(procs)
        axis.terminate()
        axis.wait(timeout=30)

    print(
        f"{DOCUMENTS} documents by {WORKERS} daemons in {elapsed:.1f} s; "
        f"stored per worker: {per_worker}"
    )
    for n, log in enumerate(logs):
        text = log.read_text(errors="replace")
        assert "deadlock" not in text.lower(), f"district-{n}:\n{text}"
        assert procs[n].returncode == 0, f"district-{n} exited {procs[n].returncode}:\n{text}"

    with db.engine.connect() as conn:
        rows = conn.execute(select(inbox.c.document_id, inbox.c.axis_doc_id, inbox.c.verdict)).all()
        statuses = conn.execute(
            select(outbox.c.document_id, outbox.c.status_code, outbox.c.state).where(
                outbox.c.kind == "status"
            )
        ).all()
        claims_left = conn.execute(select(func.count()).select_from(inbox_claims)).scalar_one()
        received = collections.Counter(
            str(e.data["data"]["document_id"])
            for e in audit.entries(conn, DISTRICT)
            if e.event == "received"
        )
    cert = read_certificates(sandbox.offices[DISTRICT].config.parent / "keys" / "signer.pem")
    report = audit.verify_database(
        db, DISTRICT, anchor=audit.OfficeCertificate(tuple(cert[:1])), max_uncovered=10_000
    )
    db.dispose()

    # Exactly once in the inbox, under both identities, all verified.
    assert len(rows) == DOCUMENTS
    assert len({r.document_id for r in rows}) == DOCUMENTS
    assert {r.axis_doc_id for r in rows} == waiting
    assert {r.verdict for r in rows} == {InboxVerdict.VERIFIED}
    assert claims_left == 0
    # Exactly one status 01 per document, queued once and sent.
    assert len(statuses) == DOCUMENTS
    assert len({r.document_id for r in statuses}) == DOCUMENTS
    assert {(r.status_code, r.state) for r in statuses} == {("01", "sent")}
    # The audit log verifies and tells each arrival once.
    assert set(received) == {r.document_id for r in rows}
    assert set(received.values()) == {1}
    assert report.entries >= 5 * DOCUMENTS  # received, verified, queued, acknowledged, sent
    # The work was shared: every daemon stored some documents, and none was counted twice.
    assert sum(per_worker) == DOCUMENTS
    assert all(count > 0 for count in per_worker), per_worker
