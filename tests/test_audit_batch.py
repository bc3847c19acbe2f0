"""Batched appends (issue 11): a step's events in one flush under one head lock, taken last.

On SQLite and a real PostgreSQL server: a batch is one contiguous chained run, in the order
the events happened (helpers' own ``audit.append`` calls join it); a flush costs a fixed
number of statements whatever its size; concurrent writers leave a chain without gaps; a
failed transaction leaves nothing; bad input and an unknown office are clear errors; the
head row is made with the office, and by migration 0004 for offices that had data. The
verifier's fast path accepts and refuses exactly what its reference checks do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres import PostgresServer
from sqlalchemy import Connection, select, text
from statements import statements

from edoc_exchange import audit
from edoc_exchange.audit import verify
from edoc_exchange.audit.entry import entry_body, json_text
from edoc_exchange.office import Office, OfficeIdentity
from edoc_exchange.store import Database, open_database, upgrade
from edoc_exchange.store.tables import audit_entries, audit_heads

OFFICE = "000.12.05.H38"
OTHER = "000.00.05.H38"


def _sqlite(tmp_path: Path) -> Database:
    db = open_database(f"sqlite:///{tmp_path / 'batch.sqlite3'}")
    upgrade(db)
    return db


_databases = 0


def _postgres(server: PostgresServer) -> Database:
    global _databases
    _databases += 1
    db = open_database(server.create_database(f"audit_batch_{_databases}"))
    upgrade(db)
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated store with the office's log made, on each database."""
    if request.param == "sqlite":
        database = _sqlite(tmp_path)
    else:
        database = _postgres(request.getfixturevalue("pg_server"))
    audit.ensure_log(database, OFFICE)
    yield database
    database.dispose()


def _stored(db: Database, office: str = OFFICE) -> list[audit.AuditEntry]:
    with db.read() as conn:
        return list(audit.entries(conn, office))


def _head(db: Database, office: str = OFFICE) -> tuple[int, str] | None:
    with db.read() as conn:
        row = conn.execute(
            select(audit_heads.c.size, audit_heads.c.last_hash).where(
                audit_heads.c.office_id == office
            )
        ).one_or_none()
    return (int(row.size), str(row.last_hash)) if row else None


def _intact(db: Database, count: int) -> None:
    report = audit.verify_database(db, OFFICE, anchor=audit.UnsafeNoAnchor(), max_uncovered=None)
    assert report.entries == count


# --- one contiguous run ----------------------------------------------------------------------


def test_a_batch_is_one_contiguous_chained_run_in_the_order_of_events(db: Database) -> None:
    def helper(conn: Connection, n: int) -> None:
        # What a helper such as replies.queue_status does: its own append joins the batch.
        assert audit.append(conn, OFFICE, audit.AuditEvent.QUEUED, {"n": n}) is None

    with db.transaction() as conn:
        first = audit.append(conn, OFFICE, audit.AuditEvent.SENT, {"n": 0})
    assert first is not None
    assert first.seq == 0
    with db.transaction() as conn, audit.batch(conn, OFFICE) as events:
        events.add(audit.AuditEvent.RECEIVED, {"n": 1})
        helper(conn, 2)
        events.add(audit.AuditEvent.VERIFIED, {"n": 3})
        with audit.batch(conn, OFFICE) as inner:  # a nested batch is the same batch
            assert inner is events
            inner.add(audit.AuditEvent.QUEUED, {"n": 4})
        assert len(events) == 4
        # Nothing was written yet: the head is not even read before the flush.
        assert audit.log_size(conn, OFFICE) == 1
    with db.transaction() as conn:
        audit.append(conn, OFFICE, audit.AuditEvent.ACKNOWLEDGED, {"n": 5})

    got = _stored(db)
    assert [e.seq for e in got] == [0, 1, 2, 3, 4, 5]
    assert [e.data["data"]["n"] for e in got] == [0, 1, 2, 3, 4, 5]
    assert [e.event for e in got] == [
        "sent",
        "received",
        "queued",
        "verified",
        "queued",
        "acknowledged",
    ]
    prev = audit.log.GENESIS
    for entry in got:
        assert entry.prev_hash == prev == entry.data["prev"]
        assert entry.entry_hash == hashlib.sha256(entry.body).hexdigest()
        assert entry.body == audit.canonical_json(entry.data)
        prev = entry.entry_hash
    assert _head(db) == (6, prev)
    _intact(db, 6)


def test_flush_returns_the_entries_it_wrote_and_empties_the_batch(db: Database) -> None:
    at = dt.datetime(2026, 7, 1, 8, 30, tzinfo=dt.UTC)
    pending = audit.Pending(OFFICE)
    for n in range(3):
        pending.add("received", {"n": n}, at=at + dt.timedelta(seconds=n))
    with db.transaction() as conn:
        made = audit.flush(conn, pending)
        assert len(pending) == 0
        assert audit.flush(conn, pending) == []  # an empty flush touches nothing
    assert made == _stored(db)
    assert [e.time for e in made] == [
        at,
        at + dt.timedelta(seconds=1),
        at + dt.timedelta(seconds=2),
    ]
    with db.read() as conn:
        created = conn.execute(select(audit_entries.c.created_at).order_by(audit_entries.c.seq))
        assert [c.replace(tzinfo=dt.UTC) if c.tzinfo is None else c for (c,) in created] == [
            e.time for e in made
        ]


def test_the_entry_body_is_canonical_json() -> None:
    """The body is assembled from parts serialised when the event was added; it must be
    byte for byte the canonical JSON of the whole entry, Vietnamese text included."""
    data: dict[str, Any] = {
        "document_id": "000.12.05.H38,2026/07/01,12/BC-UBND",
        "reason": 'Chữ ký không hợp lệ "ký" \\ \n\t\u0000',
        "zeta": [1, True, None, {"b": "Cu\u0309", "a": []}],  # decomposed ủ: NFC-normalised
        "alpha": {"z": 1, "y": {"x": "Nậm Khánh"}},
    }
    for name in ("received", "chữ ký"):
        for office in (OFFICE, 'Ủy ban\u00a0"x"'):
            got = entry_body(
                data_json=audit.canonical_json(data).decode(),
                event_json=json_text(name),
                office_json=json_text(office),
                prev="ab" * 32,
                seq=12345,
                time_json=json_text("2026-07-01T08:30:00.000000Z"),
            )
            whole = {
                "seq": 12345,
                "office": office,
                "event": name,
                "time": "2026-07-01T08:30:00.000000Z",
                "data": data,
                "prev": "ab" * 32,
            }
            assert got == audit.canonical_json(whole)


# --- statements --------------------------------------------------------------------------------


@pytest.mark.parametrize("events", [1, 4, 16])
def test_one_flush_costs_a_fixed_number_of_statements(db: Database, events: int) -> None:
    """PostgreSQL: the head locked and read, then entries and head in one statement.
    SQLite: the head read, one executemany of the prepared INSERT, the head's UPDATE."""
    with db.transaction() as conn:
        pending = audit.Pending(OFFICE)
        for n in range(events):
            pending.add("received", {"n": n})
        with statements(db.engine) as seen:
            audit.flush(conn, pending)
    got = [(s.verb, s.many) for s in seen]
    if db.is_postgres:
        assert got == [("SELECT", False), ("WITH", False)]
    else:
        # (one row is a plain execute of the same prepared statement)
        assert got == [("SELECT", False), ("INSERT", events > 1), ("UPDATE", False)]
    _intact(db, events)


# --- concurrency ---------------------------------------------------------------------------------


def test_concurrent_writers_on_postgres_leave_a_chain_without_gaps(
    pg_server: PostgresServer,
) -> None:
    db = _postgres(pg_server)
    audit.ensure_log(db, OFFICE)
    writers, steps, per_step = 4, 15, 3
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait(timeout=30)
            for step in range(steps):
                with db.transaction() as conn, audit.batch(conn, OFFICE) as events:
                    for k in range(per_step):
                        events.add("received", {"writer": number, "step": step, "k": k})
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    total = writers * steps * per_step
    got = _stored(db)
    assert [e.seq for e in got] == list(range(total))
    # Every step's events are one contiguous run, in the order they were added.
    for first in range(0, total, per_step):
        run = [e.data["data"] for e in got[first : first + per_step]]
        assert {(d["writer"], d["step"]) for d in run} == {(run[0]["writer"], run[0]["step"])}
        assert [d["k"] for d in run] == list(range(per_step))
    assert len({(e.data["data"]["writer"], e.data["data"]["step"]) for e in got}) == writers * steps
    _intact(db, total)
    db.dispose()


def test_on_postgres_the_head_is_locked_only_from_the_flush(pg_server: PostgresServer) -> None:
    """A transaction that has collected events but not flushed holds no lock: another
    writer appends and commits meanwhile; the first one's events follow its entries."""
    db = _postgres(pg_server)
    audit.ensure_log(db, OFFICE)
    collected, other_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_step() -> None:
        try:
            with db.transaction() as conn, audit.batch(conn, OFFICE) as events:
                conn.execute(text("SELECT 1"))  # the step's own work, in the transaction
                events.add("received", {"who": "slow"})
                collected.set()
                assert other_done.wait(timeout=30)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=slow_step)
    thread.start()
    assert collected.wait(timeout=30)
    with db.transaction() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '2s'"))  # would fail if the head were held
        audit.append(conn, OFFICE, "sent", {"who": "fast"})
    other_done.set()
    thread.join(timeout=30)
    assert not failures
    assert [e.data["data"]["who"] for e in _stored(db)] == ["fast", "slow"]
    db.dispose()


# --- failures ------------------------------------------------------------------------------------


def test_a_failed_transaction_leaves_no_entries_and_the_head_unchanged(db: Database) -> None:
    with db.transaction() as conn:
        audit.append(conn, OFFICE, "sent", {"n": 0})
    before = _head(db)

    def fails_after_the_flush() -> None:
        with db.transaction() as conn:
            with audit.batch(conn, OFFICE) as events:
                events.add("received", {"n": 1})
                events.add("verified", {"n": 2})
            assert audit.log_size(conn, OFFICE) == 3  # written, inside the transaction
            raise RuntimeError("the state change failed after the flush")

    def fails_inside_the_batch() -> None:
        with db.transaction() as conn, audit.batch(conn, OFFICE) as events:
            events.add("received", {"n": 1})
            raise RuntimeError("the state change failed before the flush")

    # 1. The step fails after the flush: the entries roll back with it.
    with pytest.raises(RuntimeError, match="after the flush"):
        fails_after_the_flush()
    # 2. The step fails inside the batch: nothing is flushed at all.
    with pytest.raises(RuntimeError, match="before the flush"):
        fails_inside_the_batch()
    assert _head(db) == before
    assert len(_stored(db)) == 1
    # 3. A batch left by an exception does not linger on the pooled connection.
    with db.transaction() as conn:
        assert audit.append(conn, OFFICE, "sent", {"n": 1}) is not None

    assert [e.data["data"]["n"] for e in _stored(db)] == [0, 1]
    assert _head(db) == (2, _stored(db)[-1].entry_hash)
    _intact(db, 2)


def test_run_retries_nothing_for_errors_that_are_not_a_lost_connection(db: Database) -> None:
    runs: list[int] = []

    def step(conn: Connection) -> None:
        runs.append(1)
        with audit.batch(conn, OFFICE) as events:
            events.add("received", {"n": len(runs)})
        raise RuntimeError("not the database's fault")

    with pytest.raises(RuntimeError):
        db.run(step)
    assert runs == [1]
    assert _head(db) == (0, audit.log.GENESIS)


def test_bad_input_is_a_clear_error_before_anything_is_written(db: Database) -> None:
    pending = audit.Pending(OFFICE)
    with pytest.raises(audit.AuditDataError) as info:
        pending.add("received", {"document_id": "x", "figures": {"share": 0.5}})
    assert isinstance(info.value, TypeError)  # as canonical_json always raised
    assert "event 'received'" in info.value.en
    assert "figures.share" in info.value.en
    assert "0.5" in info.value.en
    assert "số nguyên" in info.value.vi
    with pytest.raises(audit.AuditDataError, match="datetime"):
        pending.add("received", {"when": dt.datetime.now(dt.UTC)})
    with pytest.raises(audit.AuditDataError, match="41 characters"):
        pending.add("x" * 41)
    assert len(pending) == 0
    with db.transaction() as conn, pytest.raises(audit.AuditDataError):
        audit.append(conn, OFFICE, "sent", {"share": 1.5})
    assert _head(db) == (0, audit.log.GENESIS)


def test_an_office_without_a_log_is_a_clear_error_naming_it(db: Database) -> None:
    with pytest.raises(audit.AuditLogMissingError) as info, db.transaction() as conn:
        audit.append(conn, "000.99.99.H99", "sent", {"n": 1})
    assert info.value.office_id == "000.99.99.H99"
    assert "000.99.99.H99" in info.value.en
    assert "000.99.99.H99" in info.value.vi
    assert "no audit log" in info.value.en
    with pytest.raises(audit.AuditLogMissingError), db.transaction() as conn:
        audit.make_checkpoint(conn, "000.99.99.H99", None)
    with db.read() as conn:
        assert conn.execute(select(audit_entries.c.seq)).first() is None
    assert _head(db, "000.99.99.H99") is None  # appending never makes a head row


# --- where heads come from ---------------------------------------------------------------------


def test_the_head_row_exists_from_the_office_s_creation(tmp_path: Path) -> None:
    db = _sqlite(tmp_path)
    assert _head(db, OTHER) is None
    Office(
        identity=OfficeIdentity(organ_id=OTHER, organ_name="UBND huyện Bắc Hà"),
        db=db,
        client=None,
        signer=None,
        policy=None,
        worker="test",
    )
    assert _head(db, OTHER) == (0, audit.log.GENESIS)
    with db.transaction() as conn:
        assert not audit.create_log(conn, OTHER)  # idempotent
        audit.append(conn, OTHER, "config_changed", {"sha256": "0" * 64})
    assert not audit.ensure_log(db, OTHER)
    assert _head(db, OTHER) not in (None, (0, audit.log.GENESIS))
    db.dispose()


def test_migration_0004_makes_the_head_rows_of_offices_that_had_data(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    assert upgrade(db, "0003") == "0003"
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        # An office that received a document and appended (head made by the old append),
        # one that only has a queued row (never appended), and an untouched one.
        conn.execute(
            text("INSERT INTO audit_heads (office_id, size, last_hash) VALUES (:o, 1, :h)"),
            {"o": OFFICE, "h": "ab" * 32},
        )
        conn.execute(
            text(
                "INSERT INTO outgoing_register (office_id, notation, year, number, reserved_at) "
                "VALUES (:o, 'BC-UBND', 2026, 1, :t)"
            ),
            {"o": OTHER, "t": now},
        )
    assert upgrade(db, "0004") == "0004"
    assert _head(db, OFFICE) == (1, "ab" * 32)  # left as it was
    assert _head(db, OTHER) == (0, audit.log.GENESIS)
    assert _head(db, "000.99.99.H99") is None
    db.dispose()


# --- the verifier's fast path agrees with its reference ------------------------------------------


def _rows(db: Database) -> list[verify.Row]:
    return [(e.seq, e.prev_hash, e.entry_hash, e.body) for e in _stored(db)]


def _outcome(run: Callable[[], audit.AuditReport]) -> tuple[str, Any]:
    try:
        report = run()
    except audit.AuditVerificationError as exc:
        return ("refused", (type(exc).__name__, exc.seq, exc.en))
    return ("accepted", (report.entries, report.full_entries, report.root_hash))


def _rehash(rows: list[verify.Row], index: int, body: bytes) -> list[verify.Row]:
    """Replace a body and re-chain everything after it, as an attacker would."""
    out = rows[:index]
    prev = out[-1][2] if out else audit.log.GENESIS
    for seq, _prev, _hash, old in rows[index:]:
        new = body if seq == rows[index][0] else old
        if seq != rows[index][0]:
            fields = json.loads(new)
            fields["prev"] = prev
            new = audit.canonical_json(fields)
        digest = hashlib.sha256(new).hexdigest()
        out.append((seq, prev, digest, new))
        prev = digest
    return out


def test_the_fast_path_accepts_and_refuses_exactly_what_the_reference_does(
    tmp_path: Path,
) -> None:
    db = _sqlite(tmp_path)
    audit.ensure_log(db, OFFICE)
    with db.transaction() as conn:
        for n in range(12):
            audit.append(conn, OFFICE, "received", {"n": n, "text": "Nậm Khánh"})
            if n == 5:
                audit.make_checkpoint(conn, OFFICE, None)
        checkpoints = audit.checkpoints(conn, OFFICE)
    good = _rows(db)
    fields = json.loads(good[7][3])
    variants: dict[str, list[verify.Row]] = {"intact": good}
    spaced = good[7][3] + b"  \n"  # valid JSON, trailing blanks: json.loads accepts it
    variants["trailing blanks"] = _rehash(good, 7, spaced)
    variants["leading blank"] = _rehash(good, 7, b" " + good[7][3])
    variants["not UTF-8"] = _rehash(good, 7, good[7][3].replace(b"N", b"\xff", 1))
    variants["not JSON"] = _rehash(good, 7, good[7][3][:-1])
    variants["a JSON list"] = _rehash(good, 7, b"[1]")
    variants["extra data"] = _rehash(good, 7, good[7][3] + b"{}")
    variants["wrong seq in body"] = _rehash(good, 7, audit.canonical_json(fields | {"seq": 8}))
    variants["true as seq 1"] = _rehash(
        good, 1, audit.canonical_json(json.loads(good[1][3]) | {"seq": True})
    )
    variants["other office"] = _rehash(good, 7, audit.canonical_json(fields | {"office": OTHER}))
    variants["body's prev differs"] = _rehash(
        good, 7, audit.canonical_json(fields | {"prev": "cd" * 32})
    )
    variants["edited, not rehashed"] = [
        *good[:7],
        (7, good[7][1], good[7][2], good[7][3].replace(b"received", b"rejected")),
        *good[8:],
    ]
    variants["prev column edited"] = [*good[:7], (7, "cd" * 32, *good[7][2:]), *good[8:]]
    variants["gap"] = good[:7] + good[8:]
    variants["repeat"] = good[:8] + good[7:]
    variants["truncated"] = good[:4]
    seen = set()
    for name, rows in variants.items():
        for head in (None, (12, good[-1][2])):
            fast = _outcome(
                lambda rows=rows, head=head: verify.verify_rows(  # type: ignore[misc]
                    OFFICE,
                    [rows[:5], rows[5:]],
                    checkpoints,
                    head=head,
                    anchor=audit.UnsafeNoAnchor(),
                    max_uncovered=None,
                )
            )
            reference = _outcome(
                lambda rows=rows, head=head: verify.verify_records(  # type: ignore[misc]
                    OFFICE,
                    [audit.AuditEntry(OFFICE, r[0], "x", r[3], r[1], r[2]) for r in rows],
                    checkpoints,
                    head=head,
                    anchor=audit.UnsafeNoAnchor(),
                    max_uncovered=None,
                )
            )
            assert fast == reference, name
            seen.add(fast[0])
    assert seen == {"accepted", "refused"}
    db.dispose()
