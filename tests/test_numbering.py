"""The outgoing register: numbers that cannot collide (issue 10).

Four processes (``multiprocessing``, spawn) each queue five plans with a blank number
through the office's compose-and-queue door, against one shared store (a SQLite file, then
PostgreSQL): twenty documents, twenty different numbers. A number given in the YAML that
is taken is refused at its line; a number whose document could not be composed is given
back; each notation has its own sequence; a store of revision 0002 keeps its numbers and
its received documents' reply fields when it is upgraded.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import EXAMPLES
from postgres import PostgresServer
from pydantic import SecretStr
from sqlalchemy import select

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.axis import AxisClient
from edoc_exchange.compose import ContentError
from edoc_exchange.config import AxisSettings
from edoc_exchange.store import Database, MessageForm, open_database, upgrade
from edoc_exchange.store import directory as directory_store
from edoc_exchange.store.tables import outbox, outgoing_register

COMMUNE = ("000.12.05.H38", "UBND xã Nậm Khánh")
DISTRICT = ("000.00.05.H38", "UBND huyện Bắc Hà")
PLAN = EXAMPLES / "ke-hoach-papi-2020.yaml"
REPORT = EXAMPLES / "bao-cao-papi-quy-3.yaml"
PROCESSES = 4
EACH = 5


def _prepare(url: str) -> None:
    """A migrated store whose organisation directory knows the commune and the district."""
    db = open_database(url)
    upgrade(db)
    with db.transaction() as conn:
        directory_store.replace_all(
            conn,
            [directory_store.Organisation(o, n, None, "{}") for o, n in (COMMUNE, DISTRICT)],
            dt.datetime.now(dt.UTC),
        )
    db.dispose()


def _office(db: Database, worker: str) -> steps.Office:
    """The commune as ``compose --queue`` builds it: no trust policy, an axis it never calls."""
    axis = AxisSettings(
        endpoint="http://127.0.0.1:9", systemid="composer", secret=SecretStr("unused")
    )
    return steps.Office(
        identity=steps.OfficeIdentity(organ_id=COMMUNE[0], organ_name=COMMUNE[1]),
        db=db,
        client=AxisClient(axis),
        signer=None,
        policy=None,
        worker=worker,
    )


def _queue_plans(url: str, worker: int, start: Any, results: Any) -> None:
    """One composing process: wait for the others, then queue EACH plans at once."""
    db = open_database(url)
    office = _office(db, f"composer-{worker}")
    try:
        start.wait(timeout=120)
        for _ in range(EACH):
            queued = steps.compose_and_queue(office, PLAN)
            results.put((worker, queued.composed.content.number))
    except BaseException as exc:
        results.put((worker, f"error: {exc!r}"))
        raise
    finally:
        office.axis.close()
        db.dispose()


def _numbers_of(url: str) -> tuple[list[str], list[int]]:
    db = open_database(url)
    with db.engine.connect() as conn:
        ids = list(
            conn.execute(select(outbox.c.document_id).where(outbox.c.kind == "edoc")).scalars()
        )
        taken = list(conn.execute(select(outgoing_register.c.number)).scalars())
    db.dispose()
    return ids, taken


def _race(url: str) -> list[str]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    procs = [
        context.Process(target=_queue_plans, args=(url, n, start, results))
        for n in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    got: list[tuple[int, str]] = []
    try:
        while len(got) < PROCESSES * EACH:
            got.append(results.get(timeout=180))
            assert not got[-1][1].startswith("error"), got[-1]
    except queue.Empty:
        pytest.fail(f"only {len(got)} of {PROCESSES * EACH} plans queued: {got}")
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES
    # Every process queued its share: the numbers were raced for, not taken in turn.
    assert sorted({worker for worker, _ in got}) == list(range(PROCESSES))
    return [number for _, number in got]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_twenty_plans_queued_from_four_processes_take_twenty_numbers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'commune.sqlite3'}"
    else:
        pg: PostgresServer = request.getfixturevalue("pg_server")
        url = pg.create_database("numbering_race")
    _prepare(url)
    numbers = _race(url)
    expected = [str(n) for n in range(1, PROCESSES * EACH + 1)]
    assert sorted(numbers, key=int) == expected
    ids, taken = _numbers_of(url)
    assert len(ids) == len(set(ids)) == PROCESSES * EACH
    assert sorted(edxml.DocumentId.parse(i).number for i in ids) == sorted(expected)
    assert sorted(taken) == list(range(1, PROCESSES * EACH + 1))


def _edited(tmp_path: Path, source: Path, old: str, new: str, name: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.fixture
def commune(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'commune.sqlite3'}"
    _prepare(url)
    db = open_database(url)
    office = _office(db, "composer")
    yield office
    office.axis.close()
    db.dispose()


def test_a_taken_number_is_refused_at_its_line(commune: steps.Office, tmp_path: Path) -> None:
    five = _edited(tmp_path, PLAN, "number:", "number: 5 #", "five.yaml")
    first = steps.compose_and_queue(commune, five)
    assert first.composed.message.code is not None
    assert first.composed.message.code.number == "5"
    with pytest.raises(ContentError) as refused:
        steps.compose_and_queue(commune, five)
    [problem] = refused.value.problems
    assert problem.code == "number-used"
    assert problem.line is not None
    assert "number 5 was already used" in problem.en
    assert "5/KH-UBND" in problem.vi
    # Composing without queuing checks the register too, and takes nothing.
    with pytest.raises(ContentError):
        steps.compose_file(
            five, db=commune.db, office_id=COMMUNE[0], signer=None, now=dt.datetime.now(dt.UTC)
        )
    # A blank number takes the next after the highest: 6.
    assert steps.compose_and_queue(commune, PLAN).composed.content.number == "6"


def test_a_number_whose_document_fails_is_given_back(
    commune: steps.Office, tmp_path: Path
) -> None:
    unknown = _edited(
        tmp_path, PLAN, f"organ_id: {DISTRICT[0]}", "organ_id: 000.00.77.H38", "unknown.yaml"
    )
    with pytest.raises(ContentError, match=r"000\.00\.77\.H38"):
        steps.compose_and_queue(commune, unknown)  # fails after the number was taken
    with commune.db.engine.connect() as conn:
        assert conn.execute(select(outgoing_register)).all() == []
    assert steps.compose_and_queue(commune, PLAN).composed.content.number == "1"


def test_each_notation_has_its_own_sequence(commune: steps.Office, tmp_path: Path) -> None:
    for _ in range(2):
        steps.compose_and_queue(commune, PLAN)
    report = _edited(tmp_path, REPORT, "number: 58", "number:", "report.yaml")
    queued = steps.compose_and_queue(commune, report)
    assert queued.composed.message.code is not None
    assert (queued.composed.message.code.number, queued.composed.message.code.notation) == (
        "1",
        "BC-UBND",
    )
    with commune.db.engine.connect() as conn:
        rows = conn.execute(
            select(outgoing_register.c.notation, outgoing_register.c.number).order_by(
                outgoing_register.c.notation, outgoing_register.c.number
            )
        ).all()
    assert [tuple(r) for r in rows] == [("BC-UBND", 1), ("KH-UBND", 1), ("KH-UBND", 2)]


def test_a_store_of_revision_0002_keeps_its_numbers_and_reply_fields(
    tmp_path: Path,
) -> None:
    """Rows written before identity existed: the register is filled from the outbox, the
    reply fields of received documents are read once, and the clerk can still answer."""
    from axis_fixtures import make_document

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db = open_database(url)
    assert upgrade(db, "0002") == "0002"
    now = dt.datetime.now(dt.UTC)
    received = make_document(DISTRICT[0], [COMMUNE[0]], "44")
    with db.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO outbox (office_id, kind, document_id, recipients, message, sha256,"
                " signed, state, attempts, next_attempt_at, created_at, updated_at)"
                " VALUES (:o, 'edoc', :d, '[]', x'00', 'h', 0, 'SENT', 1, :t, :t, :t)"
            ),
            {"o": COMMUNE[0], "d": f"{COMMUNE[0]},2020/06/04,7/KH-UBND", "t": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO inbox (office_id, axis_doc_id, document_id, business_doc_type,"
                " sender, message, sha256, verdict, clerk_state, received_at, state_changed_at)"
                " VALUES (:o, 'a1', :d, 0, :s, :m, 'h', 'VERIFIED', '01', :t, :t)"
            ),
            {
                "o": COMMUNE[0],
                "d": received.document_id,
                "s": DISTRICT[0],
                "m": edxml.write(received),
                "t": now,
            },
        )
    db.dispose()
    _prepare(url)  # upgrades to the head and fills the directory
    db = open_database(url)
    office = _office(db, "clerk")
    with db.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT code, promulgation_date, message_form FROM inbox")).one()
    assert tuple(row) == ("44/KH-UBND", "2025-03-14", MessageForm.RAW.name)
    assert steps.compose_and_queue(office, PLAN).composed.content.number == "8"
    steps.mark(office, received.document_id or "", "03")
    with db.engine.connect() as conn:
        [reply] = conn.execute(
            select(outbox.c.message).where(outbox.c.kind == "status")
        ).scalars()
    answered = edxml.read(reply, strict=True).message
    assert isinstance(answered, edxml.StatusMessage)
    assert answered.response_for.code == "44/KH-UBND"
    assert answered.response_for.promulgation_date == dt.date(2025, 3, 14)
    office.axis.close()
    db.dispose()
