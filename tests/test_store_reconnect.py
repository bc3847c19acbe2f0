"""PostgreSQL without a ping before every transaction (issue 11): a connection the server
dropped is replaced at checkout without a round trip, and ``Database.run`` runs a
transaction again when its connection dies before the commit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from postgres import PostgresServer
from sqlalchemy import Connection, text
from statements import statements

from edoc_exchange import audit
from edoc_exchange.store import Database, DatabaseUnavailableError, open_database, upgrade

OFFICE = "000.12.05.H38"


@pytest.fixture
def pg(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[Database]:
    name = "reconnect_" + request.node.name.removeprefix("test_")[:40]
    db = open_database(pg_server.create_database(name))
    upgrade(db)
    audit.ensure_log(db, OFFICE)
    yield db
    db.dispose()


def _terminate(server: PostgresServer, pid: int) -> None:
    """End one server process, as a restart or an idle timeout would, and wait until the
    server has let it go."""
    import psycopg

    with psycopg.connect(
        host=server.host, port=server.port, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(200):
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                time.sleep(0.01)
            else:
                return
    raise AssertionError(f"backend {pid} did not end")


def _pid(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_no_ping_before_a_transaction(pg: Database) -> None:
    assert pg.engine.pool._pre_ping is False
    _pid(pg)  # a pooled connection
    with statements(pg.engine) as seen, pg.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"n": 1})
    assert len(seen) == 2  # the flush's two statements, nothing before them


def test_a_connection_the_server_dropped_is_replaced_at_checkout(
    pg: Database, pg_server: PostgresServer
) -> None:
    old = _pid(pg)
    _terminate(pg_server, old)
    # The pooled connection is dead; the transaction gets a new one, first time.
    with pg.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"n": 1})
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != old
    assert audit.verify_database(pg, OFFICE, anchor=audit.UnsafeNoAnchor()).entries == 1


def test_run_runs_a_transaction_again_when_its_connection_dies_before_the_commit(
    pg: Database, pg_server: PostgresServer
) -> None:
    runs: list[int] = []

    def step(conn: Connection) -> int:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        runs.append(pid)
        with audit.batch(conn, OFFICE) as events:
            events.add("received", {"run": len(runs)})
            if len(runs) == 1:
                _terminate(pg_server, pid)  # the connection dies in the middle of the step
        return len(runs)

    assert pg.run(step) == 2
    assert len(runs) == 2
    assert runs[0] != runs[1]
    with pg.read() as conn:
        got = list(audit.entries(conn, OFFICE))
    assert [e.data["data"] for e in got] == [{"run": 2}]  # once, from the second run


def test_a_transaction_block_cannot_be_run_again_and_says_so(
    pg: Database, pg_server: PostgresServer
) -> None:
    """``transaction()`` has no way to run its block again: a connection that dies in the
    middle is the store's error, and nothing was written."""

    def step() -> None:
        with pg.transaction() as conn:
            _terminate(pg_server, int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()))
            audit.append(conn, OFFICE, "sent", {"n": 1})

    with pytest.raises(DatabaseUnavailableError):
        step()
    assert audit.verify_database(pg, OFFICE, anchor=audit.UnsafeNoAnchor()).entries == 0
    with pg.transaction() as conn:  # and the pool recovers by itself
        audit.append(conn, OFFICE, "sent", {"n": 2})
