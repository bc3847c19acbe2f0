"""The crash test of issue 5, smaller: the same script (scripts/crash_test.py) with 30
exchanges and 6 SIGKILLs of real daemon processes, so that CI runs it on every change; and,
in process, the two crash windows the full run found (see each test)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import pytest
from daemon_fixtures import Exchange
from sqlalchemy import select

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.axis import AckStatus, MessageType
from edoc_exchange.store import outbox as outbox_store
from edoc_exchange.store.tables import inbox_claims, recipient_statuses, status_history

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "crash_test.py"


def _script_main() -> Callable[[Sequence[str]], int]:
    # scripts/ is not a package: load the file itself, so the test runs exactly its code.
    spec = importlib.util.spec_from_file_location("crash_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return cast(Callable[[Sequence[str]], int], module.main)


@pytest.mark.slow
def test_sigkilled_daemons_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    main = _script_main()
    code = main(
        [
            "--exchanges",
            "30",
            "--kills",
            "6",
            "--seed",
            "20260905",
            "--timeout",
            "90",
            "--keep",
            str(tmp_path / "sandbox"),
        ]
    )
    assert code == 0, "the crash test failed: see the report and daemon log tails above"


def _events(office: steps.Office, event: str) -> int:
    with office.db.engine.connect() as conn:
        return sum(1 for e in audit.entries(conn, office.office_id) if e.event == event)


def test_acknowledgement_taken_by_the_axis_before_a_crash_is_recorded_once(
    exchange: Exchange,
) -> None:
    """Killed after the axis took the acknowledgement, before its audit event committed:
    the item is no longer listed, yet the log must still record it (the e-governance
    report counts acknowledgements from the log) — once, after the restart."""
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    steps.send_due(ex.commune)
    original = ex.district.axis.acknowledge

    def acked_then_killed(doc_id: str, status: AckStatus = AckStatus.DONE) -> None:
        original(doc_id, status)
        raise KeyboardInterrupt("SIGKILL")

    ex.district.axis.acknowledge = acked_then_killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        steps.receive_documents(ex.district)
    ex.district.axis.acknowledge = original  # type: ignore[method-assign]
    assert ex.district.axis.list_received(MessageType.EDOC) == []
    assert _events(ex.district, "acknowledged") == 0
    # A restarted daemon (another worker) takes over once the claim is stale.
    ex.district.worker = "district-2"
    steps.receive_documents(ex.district)
    assert _events(ex.district, "acknowledged") == 0  # the dead worker's claim is still fresh
    ex.clock.advance(minutes=6)
    steps.receive_documents(ex.district)
    steps.receive_documents(ex.district)
    assert _events(ex.district, "acknowledged") == 1
    with ex.district.db.engine.connect() as conn:
        assert conn.execute(select(inbox_claims)).all() == []
    steps.verify_log(ex.district)


def test_status_acknowledged_before_a_crash_is_recorded_once(exchange: Exchange) -> None:
    """The same window on the sender's side: a status message taken in and acknowledged at
    the axis by a daemon killed before its event committed."""
    ex = exchange
    doc = ex.plan()
    steps.queue_message(ex.commune, edxml.write(doc))
    steps.send_due(ex.commune)
    steps.receive_documents(ex.district)
    steps.send_due(ex.district)  # status 01
    original = ex.commune.axis.acknowledge

    def acked_then_killed(doc_id: str, status: AckStatus = AckStatus.DONE) -> None:
        original(doc_id, status)
        raise KeyboardInterrupt("SIGKILL")

    ex.commune.axis.acknowledge = acked_then_killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        steps.receive_statuses(ex.commune)
    ex.commune.axis.acknowledge = original  # type: ignore[method-assign]
    assert ex.commune.axis.list_received(MessageType.STATUS) == []
    ex.clock.advance(minutes=6)
    steps.receive_statuses(ex.commune)
    steps.receive_statuses(ex.commune)
    assert _events(ex.commune, "status_received") == 1
    assert _events(ex.commune, "acknowledged") == 1
    with ex.commune.db.engine.connect() as conn:
        assert conn.execute(select(inbox_claims)).all() == []


def test_status_resent_after_a_crash_does_not_move_the_recipient_back(
    exchange: Exchange,
) -> None:
    """The district died while sending status 01; the clerk's 03 went out first and the 01
    only after the stalled row was reclaimed. The commune keeps 03 as the district's
    status (and both in the history), whatever the order of arrival."""
    ex = exchange
    doc = ex.plan()
    steps.queue_message(ex.commune, edxml.write(doc))
    steps.send_due(ex.commune)
    steps.receive_documents(ex.district)
    with ex.district.db.transaction() as conn:  # a worker claims the 01, then dies
        dead = outbox_store.claim_next(conn, worker="dead", now=ex.clock())
    assert dead is not None
    assert dead.status_code == "01"
    steps.mark(ex.district, doc.document_id or "", "03")
    assert steps.send_due(ex.district).done == 1  # the 03
    steps.receive_statuses(ex.commune)
    ex.clock.advance(minutes=6)
    assert steps.send_due(ex.district).done == 1  # the 01, reclaimed
    steps.receive_statuses(ex.commune)
    steps.follow_sent(ex.commune)  # the axis's "last status" is now the late 01
    with ex.commune.db.engine.connect() as conn:
        codes = conn.execute(select(recipient_statuses.c.status_code)).scalars().all()
        history = conn.execute(
            select(status_history.c.status_code).order_by(status_history.c.id)
        ).scalars()
        assert list(codes) == ["03"]
        assert list(history) == ["03", "01"]


@pytest.mark.slow
def test_sigkilled_daemons_on_postgresql_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """The same crash test with both stores on a throwaway PostgreSQL (a province's setup)."""
    from postgres import find_pg_bin

    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/install.sh --dev)")
    main = _script_main()
    args = [
        "--postgres",
        "--exchanges",
        "20",
        "--kills",
        "4",
        "--seed",
        "20261127",
        "--timeout",
        "90",
        "--keep",
        str(tmp_path / "sandbox"),
    ]
    assert main(args) == 0


@pytest.mark.slow
def test_four_daemons_per_office_on_postgresql_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """Four daemon processes per office on one PostgreSQL database, sharing the work list
    (SKIP LOCKED) and the audit head, killed at random: nothing lost, nothing twice."""
    from postgres import find_pg_bin

    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/install.sh --dev)")
    main = _script_main()
    args = [
        "--postgres",
        "--workers",
        "4",
        "--exchanges",
        "20",
        "--kills",
        "6",
        "--seed",
        "20261201",
        "--timeout",
        "150",
        "--keep",
        str(tmp_path / "sandbox"),
    ]
    assert main(args) == 0
