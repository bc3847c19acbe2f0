"""The store on real SQLite files and a real PostgreSQL server: migrations, errors, audit."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from postgres import PostgresServer
from sqlalchemy import inspect, text

from edoc_exchange import audit
from edoc_exchange.store import (
    DatabaseLockedError,
    DatabaseReadOnlyError,
    open_database,
    upgrade,
)

TABLES = {
    "outbox",
    "outbox_following",
    "inbox",
    "recipient_statuses",
    "status_history",
    "organisations",
    "audit_entries",
    "audit_heads",
    "audit_checkpoints",
    "alembic_version",
    "inbox_claims",
    "outgoing_register",
    "paper_counts",
    "workers",
    "inbox_work",
    "office_polls",
    "users",
    "web_sessions",
    "login_failures",
    "incoming_register",
    "inbox_handling",
    "drafts",
    "draft_files",
    "notifications_sent",
    "document_changes",
    "pdf_verdicts",
}
#: The newest migration: what a fresh database is upgraded to.
HEAD = "0010"


def test_sqlite_upgrade_is_idempotent_and_uses_wal(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'sub' / 'edoc.sqlite3'}")
    assert upgrade(db) == HEAD
    assert upgrade(db) == HEAD
    assert set(inspect(db.engine).get_table_names()) == TABLES
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    db.dispose()


def test_postgres_upgrade(pg_server: PostgresServer) -> None:
    db = open_database(pg_server.create_database("store_upgrade"))
    assert upgrade(db) == HEAD
    assert set(inspect(db.engine).get_table_names()) == TABLES
    with db.transaction() as conn:
        audit.create_log(conn, "000.12.05.H38")
        audit.append(conn, "000.12.05.H38", "sent", {"document_id": "x"})
    assert audit.verify_database(db, "000.12.05.H38", anchor=audit.UnsafeNoAnchor()).entries == 1
    db.dispose()


def test_read_only_database_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores file modes; a read-only SQLite URI gives the same error.
        path = tmp_path / "ro.sqlite3"
        writable = open_database(f"sqlite:///{path}")
        upgrade(writable)
        audit.ensure_log(writable, "000.12.05.H38")
        db = open_database(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        path = tmp_path / "ro.sqlite3"
        writable = open_database(f"sqlite:///{path}")
        upgrade(writable)
        audit.ensure_log(writable, "000.12.05.H38")
        path.chmod(stat.S_IRUSR)
        db = open_database(f"sqlite:///{path}")
    with pytest.raises(DatabaseReadOnlyError) as info, db.transaction() as conn:
        audit.append(conn, "000.12.05.H38", "sent", {})
    assert "read-only" in info.value.en
    assert "chỉ đọc" in info.value.vi


def test_locked_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    audit.ensure_log(db, "000.12.05.H38")
    holder = open_database(f"sqlite:///{path}")
    impatient = open_database(f"sqlite:///{path}", busy_timeout_ms=100)
    with holder.transaction() as conn:
        audit.append(conn, "000.12.05.H38", "sent", {"n": 1})
        with pytest.raises(DatabaseLockedError) as info, impatient.transaction() as other:
            audit.append(other, "000.12.05.H38", "sent", {"n": 2})
    assert "locked" in info.value.en
    # nothing was lost: the holder's entry committed, the impatient one never existed
    assert audit.verify_database(db, "000.12.05.H38", anchor=audit.UnsafeNoAnchor()).entries == 1


def test_postgres_checkpoint_after_reading_entries_in_one_transaction(
    pg_server: PostgresServer,
) -> None:
    """Streaming the entries must not turn the rest of the transaction into cursor reads.

    ``make_checkpoint`` reads the entries and then inserts the checkpoint on the same
    connection; the daemon appends in that transaction too. On PostgreSQL a streaming option
    set on the connection (rather than the statement) made that INSERT run as
    ``DECLARE … CURSOR FOR INSERT`` and every checkpoint failed.
    """
    db = open_database(pg_server.create_database("store_checkpoint"))
    upgrade(db)
    office = "000.00.01.H17"
    with db.transaction() as conn:
        audit.create_log(conn, office)
        for n in range(3):
            audit.append(conn, office, "received", {"n": n})
        checkpoint = audit.make_checkpoint(conn, office, None)
        audit.append(conn, office, "acknowledged", {"n": 3})
    assert checkpoint.tree_size == 3
    report = audit.verify_database(db, office, anchor=audit.UnsafeNoAnchor())
    assert (report.entries, report.checkpoints) == (4, 1)
    db.dispose()
