"""Following sent documents: a per-document backoff (first wait, doubling, cap, horizon),
status messages as the push that makes polling rare, nothing polled for a recipient that
finished, and bad statuses recorded with a clear problem; real HTTP to a local axis, real
signatures, real SQLite, a clock moved by hand."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from axis_fixtures import COMMUNE_A, COMMUNE_B, DISTRICT, make_document, make_status
from daemon_fixtures import Clock, Exchange
from sqlalchemy import event, select, text, update

from edoc_exchange import audit, edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.axis import MessageType
from edoc_exchange.store import as_utc, open_database, upgrade
from edoc_exchange.store import outbox as outbox_store
from edoc_exchange.store.tables import (
    outbox,
    outbox_following,
    recipient_statuses,
    status_history,
)

MINUTE = dt.timedelta(minutes=1)
POLICY = steps.FollowPolicy(
    first=MINUTE, cap=dt.timedelta(minutes=8), horizon=dt.timedelta(hours=2), per_pass=100
)


class Counted:
    """Counts the office's getSentEdocList calls (each one a request at the local axis)."""

    def __init__(self, office: steps.Office) -> None:
        self.calls = 0
        real: Callable[[str], Any] = office.axis.sent_status

        def counting(doc_id: str) -> Any:
            self.calls += 1
            return real(doc_id)

        office.axis.sent_status = counting  # type: ignore[method-assign]

    def take(self) -> int:
        calls, self.calls = self.calls, 0
        return calls


def _follow_row(ex: Exchange) -> dict[str, Any]:
    with ex.commune.db.engine.connect() as conn:
        row = conn.execute(
            select(
                outbox.c.id,
                outbox_following.c.next_at.label("follow_next_at"),
                outbox_following.c.interval_s.label("follow_interval"),
                outbox_following.c.stopped_at.label("follow_stopped_at"),
                outbox.c.final_at,
            )
            .join(outbox_following, outbox_following.c.outbox_id == outbox.c.id)
            .where(outbox.c.kind == "edoc")
        ).one()
    return dict(row._mapping)


def _send(ex: Exchange, doc: edxml.Document | None = None) -> edxml.Document:
    doc = doc or ex.plan()
    steps.queue_message(ex.commune, edxml.write(doc))
    assert steps.send_due(ex.commune).done == 1
    return doc


def _events(office: steps.Office, name: str) -> list[dict[str, Any]]:
    with office.db.engine.connect() as conn:
        return [e.data["data"] for e in audit.entries(conn, office.office_id) if e.event == name]


def test_intervals_grow_doubling_up_to_the_cap(exchange: Exchange) -> None:
    ex = exchange
    ex.commune.follow = POLICY
    counted = Counted(ex.commune)
    _send(ex)  # the district never takes it: nothing is pushed, only polling tells
    assert steps.follow_sent(ex.commune).done == 0
    assert counted.take() == 0  # not due before the first wait
    first = _follow_row(ex)
    assert first["follow_interval"] == 60
    assert as_utc(first["follow_next_at"]) == ex.clock() + MINUTE

    waits = []
    for _ in range(6):
        due = as_utc(_follow_row(ex)["follow_next_at"])
        ex.clock.now = due - dt.timedelta(seconds=1)
        steps.follow_sent(ex.commune)
        assert counted.take() == 0, "polled before it was due"
        ex.clock.now = due
        steps.follow_sent(ex.commune)
        assert counted.take() == 1
        row = _follow_row(ex)
        wait = dt.timedelta(seconds=row["follow_interval"])
        waits.append(wait)
        # spread over the second half of the wait, so answers together do not poll together
        assert ex.clock() + wait / 2 <= as_utc(row["follow_next_at"]) <= ex.clock() + wait
    assert [w // MINUTE for w in waits] == [2, 4, 8, 8, 8, 8]


def test_horizon_stops_polling_and_says_so(
    exchange: Exchange, caplog: pytest.LogCaptureFixture
) -> None:
    ex = exchange
    ex.commune.follow = POLICY
    counted = Counted(ex.commune)
    doc = _send(ex)
    sent_at = ex.clock()
    polls = 0
    while ex.clock() < sent_at + POLICY.horizon + MINUTE:
        ex.clock.advance(minutes=1)
        with caplog.at_level(logging.WARNING, logger="edoc.office"):
            steps.follow_sent(ex.commune)
        polls += counted.take()
    # 1, 3, 7, 15 min, then every 4 to 8 min up to 2 h: far fewer than one a minute
    assert 4 + 105 // 8 <= polls <= 4 + 105 // 4 + 1
    row = _follow_row(ex)
    assert row["follow_stopped_at"] is not None
    assert row["follow_next_at"] is None
    assert row["final_at"] is None
    [event] = _events(ex.commune, steps.FOLLOW_STOPPED)
    assert event["document_id"] == doc.document_id
    assert event["unfinished"] == [{"organ_id": DISTRICT, "status_code": None}]
    assert event["horizon_seconds"] == 7200
    assert any("stopped following" in r.getMessage() for r in caplog.records)
    details = steps.document_details(ex.commune.db, COMMUNE_A, doc.document_id or "")
    assert details.sent is not None
    assert details.sent.following == "stopped"

    # hours later: not one poll; a status that arrives is still recorded
    for _ in range(12):
        ex.clock.advance(minutes=15)
        steps.follow_sent(ex.commune)
    assert counted.take() == 0
    ex.district.clock = Clock()  # its signing time must not lie in the verifier's future
    steps.receive_documents(ex.district)
    steps.send_due(ex.district)  # the 01
    assert steps.receive_statuses(ex.commune).done == 1
    with ex.commune.db.engine.connect() as conn:
        codes = conn.execute(select(recipient_statuses.c.status_code)).scalars().all()
    assert codes == ["01"]
    assert _follow_row(ex)["follow_next_at"] is None  # the push does not restart polling
    assert len(_events(ex.commune, steps.FOLLOW_STOPPED)) == 1
    steps.verify_log(ex.commune)


def test_status_pushes_make_polling_rare_and_a_final_one_ends_it(exchange: Exchange) -> None:
    ex = exchange
    ex.commune.follow = POLICY
    counted = Counted(ex.commune)
    doc = _send(ex)
    steps.receive_documents(ex.district)
    steps.send_due(ex.district)  # the 01, pushed before the first poll was due
    assert steps.receive_statuses(ex.commune).done == 1
    row = _follow_row(ex)
    assert row["follow_interval"] == POLICY.cap.total_seconds()
    assert as_utc(row["follow_next_at"]) >= ex.clock() + POLICY.cap / 2
    for _ in range(3):  # half the cap: nothing polled
        ex.clock.advance(minutes=1)
        steps.follow_sent(ex.commune)
    assert counted.take() == 0

    steps.mark(ex.district, doc.document_id or "", "03")
    steps.mark(ex.district, doc.document_id or "", "06")
    steps.send_due(ex.district)
    steps.send_due(ex.district)
    assert steps.receive_statuses(ex.commune).done == 2
    row = _follow_row(ex)
    assert row["final_at"] is not None
    assert row["follow_next_at"] is None
    ex.clock.advance(days=3)
    steps.follow_sent(ex.commune)
    assert counted.take() == 0
    details = steps.document_details(ex.commune.db, COMMUNE_A, doc.document_id or "")
    assert details.sent is not None
    assert details.sent.following == "finished"


def test_a_recipient_that_finished_is_not_asked_about_again(exchange: Exchange) -> None:
    """Two recipients: the district refuses (02, final) at once; commune B never answers.
    The document is still polled for commune B; the district's row no longer changes."""
    ex = exchange
    ex.commune.follow = POLICY
    counted = Counted(ex.commune)
    doc = _send(ex, make_document(COMMUNE_A, [DISTRICT, COMMUNE_B]))
    steps.receive_documents(ex.district)
    steps.mark(ex.district, doc.document_id or "", "02", "Không thuộc thẩm quyền")
    steps.send_due(ex.district)
    steps.send_due(ex.district)
    assert steps.receive_statuses(ex.commune).done == 2

    def district_row() -> dict[str, Any]:
        with ex.commune.db.engine.connect() as conn:
            return dict(
                conn.execute(
                    select(recipient_statuses).where(recipient_statuses.c.organ_id == DISTRICT)
                )
                .one()
                ._mapping
            )

    before = district_row()
    assert before["status_code"] == "02"
    ex.clock.advance(minutes=2)
    steps.follow_sent(ex.commune)
    assert counted.take() == 1  # commune B has not finished
    assert district_row() == before  # the axis's "done" for the district changes nothing
    assert _follow_row(ex)["final_at"] is None


def test_a_pass_polls_at_most_per_pass_longest_due_first(exchange: Exchange) -> None:
    ex = exchange
    ex.commune.follow = steps.FollowPolicy(first=MINUTE, per_pass=3)
    counted = Counted(ex.commune)
    for n in range(5):
        _send(ex, ex.plan(str(20 + n)))
        ex.clock.advance(seconds=1)
    ex.clock.advance(minutes=1)
    assert steps.follow_sent(ex.commune).done == 3  # each learns the district's "pending"
    assert counted.take() == 3
    steps.follow_sent(ex.commune)
    assert counted.take() == 2
    steps.follow_sent(ex.commune)
    assert counted.take() == 0


def test_a_document_the_axis_does_not_know_waits_longer_and_the_pass_goes_on(
    exchange: Exchange, caplog: pytest.LogCaptureFixture
) -> None:
    ex = exchange
    ex.commune.follow = POLICY
    counted = Counted(ex.commune)
    _send(ex, ex.plan("31"))
    _send(ex, ex.plan("32"))
    with ex.commune.db.transaction() as conn:
        first_id = min(conn.execute(select(outbox.c.id)).scalars())
        conn.execute(
            update(outbox_following)
            .where(outbox_following.c.outbox_id == first_id)
            .values(axis_doc_id="nope")
        )
    ex.clock.advance(minutes=1)
    with caplog.at_level(logging.WARNING, logger="edoc.office"):
        report = steps.follow_sent(ex.commune)
    assert (report.failed, report.done, counted.take()) == (1, 1, 2)
    assert any("nope" in r.getMessage() for r in caplog.records)
    with ex.commune.db.engine.connect() as conn:
        interval = conn.execute(
            select(outbox_following.c.interval_s).where(outbox_following.c.outbox_id == first_id)
        ).scalar_one()
    assert interval == 120


def _signed_status(ex: Exchange, status: edxml.StatusMessage) -> bytes:
    signer = ex.identities[DISTRICT].signer()
    return signing.sign(edxml.write(status, check=False), signer)


def test_bad_statuses_are_kept_with_a_clear_problem_and_change_nothing(
    exchange: Exchange,
) -> None:
    """A status about a document the commune never sent, and statuses whose code is not
    two digits: each is verified, kept in the history with its bytes, acknowledged, and its
    audit event says what is wrong; no recipient's status moves."""
    ex = exchange
    ex.commune.follow = POLICY
    doc = _send(ex)
    never_sent = make_document(COMMUNE_A, [DISTRICT], "999")
    bad = [
        make_status(DISTRICT, never_sent, "03"),
        make_status(DISTRICT, doc, "A1"),
        make_status(DISTRICT, doc, "123456"),
    ]
    for status in bad:
        ex.district.axis.send(
            _signed_status(ex, status), sender=DISTRICT, message_type=MessageType.STATUS
        )
    report = steps.receive_statuses(ex.commune)
    assert (report.done, report.rejected) == (3, 0)
    assert ex.commune.axis.list_received(MessageType.STATUS) == []  # all acknowledged

    events = _events(ex.commune, "status_received")
    problems = {e["status_code"]: e.get("problem", "") for e in events}
    assert "matches no document this office sent to it" in problems["03"]
    assert "999/KH-UBND" in problems["03"]
    assert "status code 'A1' is malformed" in problems["A1"]
    assert "Mã trạng thái 'A1' không hợp lệ" in problems["A1"]
    assert "status code '123456' is malformed" in problems["123456"]

    with ex.commune.db.engine.connect() as conn:
        history = conn.execute(
            select(status_history.c.status_code, status_history.c.message).order_by(
                status_history.c.id
            )
        ).all()
        codes = conn.execute(select(recipient_statuses.c.status_code)).scalars().all()
    assert [h.status_code for h in history] == ["03", "A1", "123…"]
    kept = [signing.verify(bytes(h.message), ex.commune.trust()).message for h in history]
    assert [m.status_code for m in kept if isinstance(m, edxml.StatusMessage)] == [
        "03",
        "A1",
        "123456",
    ]
    assert codes == [None]  # the recipient's status did not move
    assert _follow_row(ex)["follow_interval"] == 60  # nor did its following
    steps.verify_log(ex.commune)


def test_following_reads_no_outbox_row_and_uses_indexes(exchange: Exchange) -> None:
    """The due documents and the documents a status answers are found by index in
    outbox_following; no statement of a pass or of a status match reads the outbox (on
    SQLite a read past the message walks its pages, an update rewrites it)."""
    ex = exchange
    with ex.commune.db.engine.connect() as conn:
        for sql, index in [
            (
                "SELECT outbox_id FROM outbox_following WHERE office_id = 'x' "
                "AND next_at <= '2026-01-01' ORDER BY next_at, outbox_id LIMIT 100",
                "ix_outbox_following_due",
            ),
            (
                "SELECT outbox_id, recipients FROM outbox_following WHERE office_id = 'x' "
                "AND document_id = 'd' ORDER BY outbox_id",
                "ix_outbox_following_document",
            ),
        ]:
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert index in plan, plan

    doc = _send(ex)
    steps.receive_documents(ex.district)
    steps.send_due(ex.district)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(ex.commune.db.engine, "before_cursor_execute", seen)
    try:
        assert steps.receive_statuses(ex.commune).done == 1
        ex.clock.advance(hours=7)
        steps.follow_sent(ex.commune)
    finally:
        event.remove(ex.commune.db.engine, "before_cursor_execute", seen)
    touching = [s for s in statements if re.search(r"\boutbox\b(?!_)", s)]
    assert touching == [], touching
    assert doc.document_id


def test_upgrading_an_existing_store_follows_what_it_sent(tmp_path: Any) -> None:
    """Sent documents still followed before revision 0006 are due at once after it."""
    db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    assert upgrade(db, "0003") == "0003"
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with db.transaction() as conn:
        for n, final in [(1, None), (2, now)]:
            conn.execute(
                text(
                    "INSERT INTO outbox (office_id, kind, document_id, recipients, message, "
                    "sha256, signed, state, attempts, next_attempt_at, created_at, updated_at, "
                    "final_at, axis_doc_id) VALUES (:o, 'edoc', :d, '[\"x\"]', x'6d', :s, 1, "
                    "'SENT', 1, :t, :t, :t, :f, :a)"
                ).bindparams(o=COMMUNE_A, d=f"d{n}", s=str(n), t=now, f=final, a=f"axis-{n}")
            )
    assert upgrade(db, "0006") == "0006"
    with db.read() as conn:
        due = outbox_store.due_for_following(
            conn, office_id=COMMUNE_A, now=now + dt.timedelta(seconds=1), limit=10
        )
    assert [(ref.document_id, ref.axis_doc_id) for ref in due] == [("d1", "axis-1")]
    assert due[0].sent_at == now
    assert due[0].recipients == ("x",)
    db.dispose()



@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_the_store_side_of_following_on_both_databases(
    store: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """Sent → followed (the row written with the send), due by time, rescheduled, matched
    by DocumentId and recipient, finished, stopped: the same on SQLite and PostgreSQL."""
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_server").create_database("following_store")
    db = open_database(url)
    upgrade(db)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with db.transaction() as conn:
        ids = []
        for n in range(3):
            row_id, _ = outbox_store.enqueue(
                conn,
                office_id=COMMUNE_A,
                kind="edoc",
                document_id=f"doc-{n}",
                message=b"x" * 1000 + bytes([n]),
                recipients=[DISTRICT, COMMUNE_B] if n == 0 else [DISTRICT],
                signed=True,
                now=now,
            )
            assert outbox_store.claim_next(conn, worker="w", now=now, row_id=row_id)
            outbox_store.mark_sent(conn, row_id, "w", f"axis-{n}", now, follow_after=MINUTE)
            ids.append(row_id)
    with db.read() as conn:
        assert outbox_store.due_for_following(conn, office_id=COMMUNE_A, now=now, limit=9) == []
        due = outbox_store.due_for_following(
            conn, office_id=COMMUNE_A, now=now + MINUTE, limit=2
        )
        assert [(r.id, r.axis_doc_id, r.follow_interval) for r in due] == [
            (ids[0], "axis-0", 60),
            (ids[1], "axis-1", 60),
        ]
        assert due[0].recipients == (DISTRICT, COMMUNE_B)
        assert due[0].sent_at == now
        [match] = outbox_store.find_sent_to(
            conn, office_id=COMMUNE_A, document_id="doc-0", recipient=COMMUNE_B
        )
        assert match.id == ids[0]
        assert (
            outbox_store.find_sent_to(
                conn, office_id=COMMUNE_A, document_id="doc-1", recipient=COMMUNE_B
            )
            == []
        )
    with db.transaction() as conn:
        outbox_store.follow_again(conn, ids[0], at=now + 10 * MINUTE, interval=2 * MINUTE)
        outbox_store.set_recipient_status(conn, ids[1], DISTRICT, now, status_code="06")
        assert outbox_store.mark_final_if_done(conn, due[1], steps.FINAL_STATUSES, now)
        assert outbox_store.stop_following(conn, ids[2], now)
        assert not outbox_store.stop_following(conn, ids[2], now)
    with db.read() as conn:
        later = outbox_store.due_for_following(
            conn, office_id=COMMUNE_A, now=now + 10 * MINUTE, limit=9
        )
        assert [(r.id, r.follow_interval) for r in later] == [(ids[0], 120)]
        finished = outbox_store.find_document(conn, COMMUNE_A, "doc-1")
        stopped = outbox_store.find_document(conn, COMMUNE_A, "doc-2")
        assert finished is not None
        assert stopped is not None
        assert (finished.following, stopped.following) == ("finished", "stopped")
        assert outbox_store.finished_document_ids(conn, COMMUNE_A) == {"doc-1"}
    db.dispose()


def test_the_clerk_sees_following_stopped(tmp_path: Any) -> None:
    """``edoc status`` of a sent document whose following stopped says so, in both forms."""
    from typer.testing import CliRunner

    from edoc_exchange.cli import app
    from edoc_exchange.config import load_settings
    from edoc_exchange.sandbox import Sandbox

    box = Sandbox.create(tmp_path, [(COMMUNE_A, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện")])
    config = box.offices[COMMUNE_A].config
    db = steps.open_store(load_settings(config))
    now = dt.datetime.now(dt.UTC)
    document_id = f"{COMMUNE_A},2026/03/01,5/KH-UBND"
    with db.transaction() as conn:
        row_id, _ = outbox_store.enqueue(
            conn,
            office_id=COMMUNE_A,
            kind="edoc",
            document_id=document_id,
            message=b"m",
            recipients=[DISTRICT],
            signed=True,
            now=now,
        )
        assert outbox_store.claim_next(conn, worker="w", now=now, row_id=row_id)
        outbox_store.mark_sent(conn, row_id, "w", "axis-5", now, follow_after=MINUTE)
    runner = CliRunner()
    result = runner.invoke(app, ["status", document_id, "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    sent = json.loads(result.output)["sent"]
    assert (sent["following"], sent["follow_stopped_at"]) == ("following", None)
    assert sent["follow_next_at"] is not None
    with db.transaction() as conn:
        assert outbox_store.stop_following(conn, row_id, now)
    db.dispose()
    result = runner.invoke(app, ["status", document_id, "--json", "--config", str(config)])
    sent = json.loads(result.output)["sent"]
    assert sent["following"] == "stopped"
    assert sent["follow_next_at"] is None
    assert sent["follow_stopped_at"] == now.isoformat()
    result = runner.invoke(app, ["status", document_id, "--config", str(config)])
    assert result.exit_code == 0, result.output
    text_out = " ".join(result.output.replace("│", " ").split())  # the table's wrapping undone
    assert "stopped asking the axis" in text_out
    assert "đã ngừng hỏi trục" in text_out
