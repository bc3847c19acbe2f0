"""The office's work list (store.listing) on real SQLite and a real PostgreSQL server:
one listing feeds every daemon, each item is claimed by one daemon, stored items are
acknowledged again only when their claim is unfinished, and concurrent daemons on
PostgreSQL take disjoint items without waiting for each other (SKIP LOCKED)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres import PostgresServer
from sqlalchemy import select

from edoc_exchange.store import Database, InboxVerdict, listing, open_database, upgrade
from edoc_exchange.store import inbox as inbox_store
from edoc_exchange.store import workers as workers_store
from edoc_exchange.store.tables import inbox_claims

OFFICE = "000.00.01.H17"
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
STALE = NOW - dt.timedelta(minutes=5)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'edoc.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.create_database(f"listing_{abs(hash(str(tmp_path))) % 10**8}")
    database = open_database(url)
    upgrade(database)
    yield database
    database.dispose()


def _take(
    db: Database, worker: str, limit: int = 10, worker_id: int | None = None
) -> list[listing.Listed]:
    with db.transaction() as conn:
        return listing.take_listed(
            conn,
            office_id=OFFICE,
            worker=worker,
            worker_id=worker_id,
            now=NOW,
            stale_before=STALE,
            limit=limit,
        )


def _list(db: Database, *doc_ids: str) -> None:
    with db.transaction() as conn:
        listing.add_listed(conn, OFFICE, [(d, "000.05.01.H17") for d in doc_ids], now=NOW)


def _store(db: Database, doc_id: str) -> None:
    record = inbox_store.RejectedRecord(
        evidence=b"<x/>",
        reason="test",
        fields=inbox_store.DocumentFields(document_id=f"doc-{doc_id}", sender="000.05.01.H17"),
    )
    with db.transaction() as conn:
        inbox_store.store_incoming_rejected(
            conn, record, office_id=OFFICE, axis_doc_id=doc_id, state="02", now=NOW
        )


def _claims(db: Database) -> dict[str, str]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(inbox_claims.c.axis_doc_id, inbox_claims.c.claimed_by))
        return {str(r.axis_doc_id): str(r.claimed_by) for r in rows}


def test_one_listing_is_shared_and_each_item_goes_to_one_worker(db: Database) -> None:
    _list(db, "a", "b", "c")
    _list(db, "a", "b", "c", "d")  # a second listing adds only what is new
    with db.engine.connect() as conn:
        assert listing.listed_count(conn, OFFICE) == 4
    first = _take(db, "w1", limit=2)
    second = _take(db, "w2", limit=10)
    assert [i.axis_doc_id for i in first] == ["a", "b"]
    assert [i.axis_doc_id for i in second] == ["c", "d"]
    assert all(i.stored is None and i.sender == "000.05.01.H17" for i in first + second)
    assert _claims(db) == {"a": "w1", "b": "w1", "c": "w2", "d": "w2"}
    assert _take(db, "w3") == []


def test_an_item_a_live_worker_holds_is_not_taken_again(db: Database) -> None:
    _list(db, "a")
    assert len(_take(db, "w1")) == 1
    _list(db, "a")  # listed again while w1 fetches it
    assert _take(db, "w2") == []
    assert _claims(db) == {"a": "w1"}
    with db.engine.connect() as conn:
        assert listing.listed_count(conn, OFFICE) == 0  # the stale row is gone


def test_stored_items_are_acknowledged_again_only_while_their_claim_is_open(db: Database) -> None:
    # "a": stored, acknowledgement recorded (claim released) -> left alone, no claim made.
    # "b": stored by a worker that died before recording -> acknowledged again.
    # "c": stored by a live worker still acknowledging it -> left to it.
    with db.transaction() as conn:
        dead_id, _ = workers_store.register(
            conn, name="dead", host="h", pid=1, now=NOW - dt.timedelta(hours=1), stale_before=STALE
        )
        live_id, _ = workers_store.register(
            conn, name="live", host="h", pid=2, now=NOW, stale_before=STALE
        )
    _list(db, "b")
    assert len(_take(db, "dead", worker_id=dead_id)) == 1
    _list(db, "c")
    assert len(_take(db, "live", worker_id=live_id)) == 1
    for doc_id in ("a", "b", "c"):
        _store(db, doc_id)
    _list(db, "a", "b", "c")
    again = _take(db, "w2")
    assert [(i.axis_doc_id, i.stored) for i in again] == [
        ("b", listing.Stored(InboxVerdict.REJECTED, "doc-b"))
    ]
    assert _claims(db) == {"b": "w2", "c": "live"}


def test_bad_limit_and_empty_listing_change_nothing(db: Database) -> None:
    _list(db)  # an empty listing is no statement and no row
    assert _take(db, "w1") == []
    _list(db, "a")
    assert _take(db, "w1", limit=0) == []
    assert [i.axis_doc_id for i in _take(db, "w1", limit=1)] == ["a"]


def test_concurrent_takers_on_postgresql_get_disjoint_items(pg_server: PostgresServer) -> None:
    db = open_database(pg_server.create_database("listing_concurrent"))
    upgrade(db)
    ids = [f"d{n:03d}" for n in range(200)]
    _list(db, *ids)
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def taker(name: str) -> None:
        mine: list[str] = []
        try:
            while batch := _take(db, name, limit=3):
                mine.extend(i.axis_doc_id for i in batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        got[name] = mine

    threads = [threading.Thread(target=taker, args=(f"w{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    db.dispose()
    assert not errors
    taken = [d for mine in got.values() for d in mine]
    assert sorted(taken) == ids  # every item once, none twice
    assert sum(1 for mine in got.values() if mine) >= 2  # the work was shared
