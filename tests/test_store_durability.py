"""The store's commits are durable before anyone is told, reads never wait for writers, the
WAL does not grow without bound, and PostgreSQL's failures are the store's own errors.

Real SQLite files and a real PostgreSQL; the power-cut harness (test_powercut.py) shows
what the durable commit buys, these show each rule on its own.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from daemon_fixtures import Exchange
from postgres import PostgresServer
from sqlalchemy import text

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.sandbox import free_port
from edoc_exchange.store import (
    DatabaseLockedError,
    DatabaseUnavailableError,
    StoreError,
    open_database,
    upgrade,
)
from edoc_exchange.store import db as store_db

OFFICE = "000.05.01.H17"


def test_sqlite_commits_are_synced_in_wal_mode(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'edoc.sqlite3'}")
    upgrade(db)
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA journal_size_limit")).scalar() == store_db.WAL_TRIM_BYTES
    unsafe = open_database(f"sqlite:///{tmp_path / 'edoc.sqlite3'}", synchronous="normal")
    with unsafe.read() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # only when asked
    db.dispose()
    unsafe.dispose()


def test_a_read_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Another process holds the write lock: reads (a snapshot of the last commit) answer
    at once instead of waiting the 10 s busy timeout; a write still waits and then says
    the database is locked."""
    path = tmp_path / "edoc.sqlite3"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    with db.transaction() as conn:
        audit.create_log(conn, OFFICE)
        audit.append(conn, OFFICE, "sent", {"n": 1})
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO audit_heads VALUES ('000.00.00.H00', 0, '')")
    try:
        started = time.monotonic()
        with db.read() as conn:
            assert audit.log_size(conn, OFFICE) == 1
        with db.engine.connect() as conn:  # a plain connection reads the same way
            assert audit.log_size(conn, OFFICE) == 1
        assert time.monotonic() - started < store_db.SQLITE_BUSY_TIMEOUT_MS / 1000 / 2
        impatient = open_database(f"sqlite:///{path}", busy_timeout_ms=200)
        with pytest.raises(DatabaseLockedError), impatient.transaction() as conn:
            audit.append(conn, OFFICE, "sent", {"n": 2})
        impatient.dispose()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    db.dispose()


def _wal(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_wal_is_truncated_after_a_large_write(tmp_path: Path) -> None:
    path = tmp_path / "edoc.sqlite3"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    with db.transaction() as conn:
        conn.execute(text("CREATE TABLE blobs (data BLOB)"))
        conn.execute(text("INSERT INTO blobs VALUES (:d)"), {"d": b"\x01" * (8 * 1024 * 1024)})
    assert _wal(path) > 8 * 1024 * 1024
    assert not db.trim_wal(limit_bytes=16 * 1024 * 1024)  # under the limit: left alone
    assert db.trim_wal(limit_bytes=1024 * 1024)
    assert _wal(path) == 0
    with db.read() as conn:
        assert conn.execute(text("SELECT length(data) FROM blobs")).scalar() == 8 * 1024 * 1024
    db.dispose()


def test_receiving_a_large_document_leaves_no_large_wal(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a large message is stored (and acknowledged), the daemon cuts the WAL back
    (here past 512 KiB instead of 64 MiB, so that a 3 MB document shows it)."""
    monkeypatch.setattr(store_db, "WAL_TRIM_BYTES", 512 * 1024)
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan("70", attachment_size=3 * 1024 * 1024)))
    assert steps.send_due(ex.commune).done == 1
    assert _wal(tmp_path / "commune.sqlite3") == 0  # the signed copy was stored: cut back
    assert steps.receive_documents(ex.district).done == 1
    # Cut back after the document was stored; what is left is the acknowledgement's
    # record, written after it (a few pages, far under the limit).
    assert _wal(tmp_path / "district.sqlite3") < 128 * 1024


def test_postgres_commits_synchronously_whatever_the_server_default(
    pg_server: PostgresServer,
) -> None:
    url = pg_server.create_database("store_sync_commit")
    admin = open_database(url)
    with admin.engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("ALTER DATABASE store_sync_commit SET synchronous_commit = off"))
    admin.dispose()
    db = open_database(url)
    with db.read() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
    db.dispose()


def test_postgres_down_is_the_store_s_own_error() -> None:
    """No server listening: a bilingual StoreError that names the database, not a
    psycopg traceback; reads and writes alike."""
    db = open_database(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    with pytest.raises(DatabaseUnavailableError) as info, db.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {})
    assert "cannot reach the database" in info.value.en
    assert "Không kết nối được cơ sở dữ liệu" in info.value.vi
    assert info.value.step == "store"
    with pytest.raises(StoreError), db.read() as conn:
        conn.execute(text("SELECT 1"))
    db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_build_the_tables_the_code_declares(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Revision 0002 (workers, the claims' worker_id, the status lookup's index) and the
    others give exactly ``store/tables.py``: alembic finds nothing to autogenerate."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from edoc_exchange.store.tables import metadata

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'edoc.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.create_database("store_compare")
    db = open_database(url)
    upgrade(db)
    with db.read() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    db.dispose()
    assert differences == []
