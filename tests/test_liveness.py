"""Liveness the procrastinate way, in process: one worker row per daemon, claims that name
their worker, one rule for taking over the work of a worker that stopped or died, and
passes that end after the item in hand when a stop is asked. Real SQLite stores and the
local axis over real HTTP; the clock is the exchange fixture's, moved by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from daemon_fixtures import Exchange
from sqlalchemy import select, text

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.axis import AckStatus, AxisTimeout, MessageType
from edoc_exchange.office import receiving
from edoc_exchange.store import open_database, upgrade
from edoc_exchange.store import outbox as outbox_store
from edoc_exchange.store import workers as workers_store
from edoc_exchange.store.tables import inbox_claims, outbox, outbox_following, workers


def _another(office: steps.Office, worker: str) -> steps.Office:
    """A second daemon of the same office on the same store (its own worker and stop)."""
    return dataclasses.replace(office, worker=worker, worker_id=None, stop=threading.Event())


def _events(office: steps.Office, event: str) -> int:
    with office.db.read() as conn:
        return sum(1 for e in audit.entries(conn, office.office_id) if e.event == event)


def _outbox(office: steps.Office) -> list[Any]:
    with office.db.read() as conn:
        return list(conn.execute(select(outbox).order_by(outbox.c.id)).all())


def _claims(office: steps.Office) -> list[Any]:
    with office.db.read() as conn:
        return list(conn.execute(select(inbox_claims)).all())


def _claim_for(office: steps.Office) -> outbox_store.OutboxRow:
    """``office``'s worker takes the next queued row, as a daemon about to upload it."""
    with office.db.transaction() as conn:
        row = outbox_store.claim_next(
            conn, worker=office.worker, worker_id=office.worker_id, now=office.clock()
        )
    assert row is not None
    return row


def test_a_live_worker_keeps_its_rows_however_long_it_works(exchange: Exchange) -> None:
    """The row's own heartbeat never moves (no per-row beats); the worker's does. While it
    beats, its row is its own after an hour; once it stops beating, stale_after later, the
    row goes back to the queue and another daemon sends it."""
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    busy = _another(ex.commune, "commune-busy")
    steps.register_worker(busy)
    row = _claim_for(busy)
    other = _another(ex.commune, "commune-other")
    steps.register_worker(other)
    for _ in range(12):  # an hour of a slow upload, beaten every five minutes
        ex.clock.advance(minutes=5)
        assert steps.beat(busy)
        steps.beat(other)
        assert steps.send_due(other).done == 0
    [held] = _outbox(ex.commune)
    assert (held.state, held.worker_id, held.id) == ("sending", busy.worker_id, row.id)
    ex.clock.advance(minutes=6)  # busy died: no beat for longer than stale_after
    steps.beat(other)
    assert steps.send_due(other).done == 1
    assert _outbox(ex.commune)[0].state == "sent"


def test_a_stopped_worker_s_work_is_taken_at_once(exchange: Exchange) -> None:
    """A worker that gave up waiting for a stuck loop only marks itself stopped; its rows
    are free that very moment, not stale_after later."""
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    leaving = _another(ex.commune, "commune-leaving")
    steps.register_worker(leaving)
    _claim_for(leaving)
    assert steps.stop_worker(leaving, release=False) == 0
    assert _outbox(ex.commune)[0].state == "sending"
    assert steps.send_due(ex.commune).done == 1  # same clock: nothing went stale


def test_a_clean_stop_releases_rows_and_unstored_claims(exchange: Exchange) -> None:
    """A clean stop puts its sending rows back in the queue and drops its claims on items
    it never stored; a claim on a stored item stays, because it marks an acknowledgement
    still to be recorded (any worker records it, at once)."""
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    leaving = _another(ex.commune, "commune-leaving")
    steps.register_worker(leaving)
    _claim_for(leaving)
    with ex.commune.db.transaction() as conn:
        conn.execute(
            inbox_claims.insert().values(
                office_id=ex.commune.office_id,
                axis_doc_id="never-fetched",
                claimed_by=leaving.worker,
                worker_id=leaving.worker_id,
                heartbeat_at=ex.clock(),
            )
        )
    assert steps.stop_worker(leaving, release=True) == 2
    [row] = _outbox(ex.commune)
    assert (row.state, row.worker_id, row.claimed_by) == ("queued", None, None)
    assert _claims(ex.commune) == []
    with ex.commune.db.read() as conn:
        [worker] = workers_store.workers_of(conn, "commune-leaving")
    assert worker["stopped_at"] is not None


def _ack_then_die(office: steps.Office, error: BaseException) -> None:
    """The next acknowledgement reaches the axis, then ``error`` happens (the answer is
    lost, or the process is killed before recording it)."""
    original = office.axis.acknowledge

    def acked(doc_id: str, status: AckStatus = AckStatus.DONE) -> None:
        original(doc_id, status)
        office.axis.acknowledge = original  # type: ignore[method-assign]
        raise error

    office.axis.acknowledge = acked  # type: ignore[method-assign]


def test_the_next_run_of_a_worker_name_takes_its_claims_at_once(exchange: Exchange) -> None:
    """Killed after the axis took the acknowledgement: another daemon waits stale_after
    for the dead one's claim, but the next run under the same worker name marks the old
    row stopped and records the acknowledgement in its first pass."""
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    steps.send_due(ex.commune)
    first = _another(ex.district, "district-1")
    steps.register_worker(first)
    _ack_then_die(first, KeyboardInterrupt("SIGKILL"))
    with pytest.raises(KeyboardInterrupt):
        steps.receive_documents(first)
    assert ex.district.axis.list_received(MessageType.EDOC) == []
    other = _another(ex.district, "district-2")
    steps.register_worker(other)
    steps.receive_documents(other)
    assert _events(ex.district, "acknowledged") == 0  # district-1's row still looks alive
    again = _another(ex.district, "district-1")
    steps.register_worker(again)
    assert steps.receive_documents(again).details == [
        f"{_stored_axis_id(ex)}: acknowledged after a restart"
    ]
    assert _events(ex.district, "acknowledged") == 1
    assert _claims(ex.district) == []
    with ex.district.db.read() as conn:
        new, old = workers_store.workers_of(conn, "district-1")  # newest first
    assert old["stopped_at"] is not None
    assert new["stopped_at"] is None


def _stored_axis_id(ex: Exchange) -> str:
    with ex.district.db.read() as conn:
        return str(conn.execute(text("SELECT axis_doc_id FROM inbox")).scalar_one())


def test_an_acknowledgement_whose_answer_was_lost_is_recorded_next_pass(
    exchange: Exchange,
) -> None:
    """The axis took the acknowledgement but its answer timed out: the item is gone from
    the list, the worker is alive and well, and its own leftover claim is finished at its
    next pass (the claim of a live worker never goes stale)."""
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    steps.send_due(ex.commune)
    district = _another(ex.district, "district-1")
    steps.register_worker(district)
    _ack_then_die(district, AxisTimeout("hết giờ", "timed out", operation="updateStatus"))
    with pytest.raises(AxisTimeout):
        steps.receive_documents(district)
    assert ex.district.axis.list_received(MessageType.EDOC) == []
    assert _events(ex.district, "acknowledged") == 0
    steps.receive_documents(district)
    assert _events(ex.district, "acknowledged") == 1
    assert _claims(ex.district) == []


def test_a_stop_ends_the_inbound_pass_after_the_item_in_hand(exchange: Exchange) -> None:
    ex = exchange
    for n in range(5):
        steps.queue_message(ex.commune, edxml.write(ex.plan(str(40 + n))))
    assert steps.send_due(ex.commune).done == 5
    district = ex.district
    original = district.axis.fetch_to_file
    fetched: list[str] = []

    def fetch_then_stop(doc_id: str, *args: Any, **kwargs: Any) -> Any:
        fetched.append(doc_id)
        if len(fetched) == 2:
            district.stop.set()  # SIGTERM arrives while the second item is in hand
        return original(doc_id, *args, **kwargs)

    district.axis.fetch_to_file = fetch_then_stop  # type: ignore[method-assign]
    report = steps.receive_documents(district)
    # The items in hand are finished (the second, and at most PREFETCH fetched ahead of the
    # one being stored); nothing new is fetched once the stop is seen.
    assert report.interrupted
    assert 2 <= report.done <= 1 + receiving.PREFETCH
    assert len(fetched) == report.done
    assert len(district.axis.list_received(MessageType.EDOC)) == 5 - report.done
    assert _claims(district) == []
    district.axis.fetch_to_file = original  # type: ignore[method-assign]
    district.stop.clear()
    assert steps.receive_documents(district).done == 5 - report.done


def test_a_stop_ends_the_outbound_pass_after_the_message_in_hand(exchange: Exchange) -> None:
    ex = exchange
    for n in range(5):
        steps.queue_message(ex.commune, edxml.write(ex.plan(str(50 + n))))
    commune = ex.commune
    original = commune.axis.send

    def send_then_stop(*args: Any, **kwargs: Any) -> Any:
        commune.stop.set()
        return original(*args, **kwargs)

    commune.axis.send = send_then_stop  # type: ignore[method-assign]
    report = steps.send_due(commune)
    assert (report.done, report.interrupted) == (1, True)
    assert sorted(r.state for r in _outbox(commune)) == ["queued"] * 4 + ["sent"]


def test_a_status_finds_its_sent_row_by_index(tmp_path: Path) -> None:
    """An incoming status looks its document up by (office, DocumentId), by index, among
    hundreds of sent rows; it never reads them all."""
    db = open_database(f"sqlite:///{tmp_path / 'sent.sqlite3'}")
    upgrade(db)
    office, now = "000.05.01.H17", dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        for n in range(300):
            row_id, _ = outbox_store.enqueue(
                conn,
                office_id=office,
                kind="edoc",
                document_id=f"{office},2025/03/14,{n}/KH-UBND",
                message=f"message {n}".encode(),
                recipients=["000.00.01.H17"] if n != 7 else ["000.06.01.H17", "000.00.01.H17"],
                signed=True,
                now=now,
            )
            claimed = outbox_store.claim_next(conn, worker="w", now=now, row_id=row_id)
            assert claimed is not None
            outbox_store.mark_sent(
                conn, row_id, "w", f"axis-{n}", now, follow_after=dt.timedelta(minutes=1)
            )
    wanted = f"{office},2025/03/14,7/KH-UBND"
    with db.read() as conn:
        [row] = outbox_store.find_sent_to(
            conn, office_id=office, document_id=wanted, recipient="000.06.01.H17"
        )
        assert row.document_id == wanted
        assert outbox_store.find_sent_to(
            conn, office_id=office, document_id=wanted, recipient="000.05.99.H17"
        ) == []
        query = select(outbox_following.c.outbox_id).where(
            outbox_following.c.office_id == office, outbox_following.c.document_id == wanted
        )
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        plan = " ".join(
            str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        )
    assert "ix_outbox_following_document" in plan, plan
    db.dispose()


def test_worker_rows_say_who_runs(exchange: Exchange) -> None:
    """Registering reaps the rows of workers that died (stopped at their last beat)."""
    ex = exchange
    dead = _another(ex.commune, "commune-dead")
    steps.register_worker(dead)
    ex.clock.advance(minutes=10)
    alive = _another(ex.commune, "commune-alive")
    steps.register_worker(alive)
    with ex.commune.db.read() as conn:
        rows = {r.name: r for r in conn.execute(select(workers)).all()}
    assert rows["commune-dead"].stopped_at == rows["commune-dead"].heartbeat_at
    assert rows["commune-alive"].stopped_at is None


def test_a_worker_frozen_past_stale_after_works_on_under_a_new_row(exchange: Exchange) -> None:
    """A suspended machine: the worker's row went stale and the next daemon to start
    marked it stopped (its work was free to take). When the worker wakes, its heartbeat
    finds its row stopped and it registers again rather than working on as a ghost."""
    from edoc_exchange.daemon import Runner

    ex = exchange
    sleeper = _another(ex.district, "district-sleeper")
    runner = Runner(sleeper)  # its heartbeat, called by hand: no threads
    steps.register_worker(sleeper)
    first = sleeper.worker_id
    runner.beat()
    ex.clock.advance(minutes=10)  # frozen
    steps.register_worker(_another(ex.district, "district-other"))  # reaps the sleeper
    runner.beat()
    assert sleeper.worker_id is not None
    assert sleeper.worker_id != first
    with ex.district.db.read() as conn:
        rows = workers_store.workers_of(conn, "district-sleeper")
    assert [(r["id"], r["stopped_at"] is None) for r in rows] == [
        (sleeper.worker_id, True),
        (first, False),
    ]


def test_a_fetch_that_fails_mid_pass_loses_and_duplicates_nothing(exchange: Exchange) -> None:
    """The pipeline fetches ahead: when one fetch fails, what was stored stays stored (and
    is acknowledged and recorded), the failed item and those fetched after it are given
    back, no temporary file is left, and the next pass takes them."""
    ex = exchange
    for n in range(6):
        steps.queue_message(ex.commune, edxml.write(ex.plan(str(60 + n))))
    assert steps.send_due(ex.commune).done == 6
    district = ex.district
    original = district.axis.fetch_to_file
    seen: list[str] = []
    folders: set[Path] = set()

    def flaky(doc_id: str, target: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(doc_id)
        folders.add(Path(target).parent)
        if len(seen) == 3:
            raise AxisTimeout("hết giờ", "timed out", operation="getEdoc")
        return original(doc_id, target, *args, **kwargs)

    district.axis.fetch_to_file = flaky  # type: ignore[method-assign]
    with pytest.raises(AxisTimeout):
        steps.receive_documents(district)
    district.axis.fetch_to_file = original  # type: ignore[method-assign]
    stored = _events(district, "received")
    assert 0 <= stored <= 2
    assert _events(district, "acknowledged") == stored
    assert _claims(district) == []
    assert all(not folder.exists() for folder in folders)  # temporary files removed
    again = steps.receive_documents(district)
    assert again.done == 6 - stored
    assert _events(district, "received") == 6
    assert _events(district, "acknowledged") == 6
    assert district.axis.list_received(MessageType.EDOC) == []
    steps.verify_log(district)
