"""``edoc revoke``, ``edoc take-back`` and ``edoc answer-take-back`` over a real local axis:
a letter sent by ``edoc send-document`` is revoked, or asked back and given back."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_send_document import (  # noqa: F401  (fixtures)
    COMMUNE,
    DISTRICT,
    _header,
    _send,
    box,
    files,
    runner,
)

from edoc_exchange import office as steps
from edoc_exchange.cli import app
from edoc_exchange.config import load_settings
from edoc_exchange.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _list_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each step below lists the axis again at once (the poll gate allows one listing per
    # interval between an office's daemons; here the interval is a few milliseconds).
    monkeypatch.setenv("EDOC_DAEMON__INBOUND_INTERVAL", "0.01")


def _office(box: Sandbox, organ: str) -> steps.Office:  # noqa: F811
    return steps.build_office(load_settings(box.offices[organ].config))


def _cli(box: Sandbox, organ: str, *args: str) -> tuple[int, str]:  # noqa: F811
    result = runner.invoke(app, [*args, "--config", str(box.offices[organ].config)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _sent_and_received(box: Sandbox, files: dict[str, Path]) -> str:  # noqa: F811
    code, output = _send(box, str(files["pdf"]), *_header())
    assert code == 0, output
    commune, district = _office(box, COMMUNE), _office(box, DISTRICT)
    try:
        assert steps.send_due(commune).done == 1
        assert steps.receive_documents(district).done == 1
        with district.db.read() as conn:
            [row] = conn.exec_driver_sql("SELECT document_id FROM inbox").all()
    finally:
        for o in (commune, district):
            o.db.dispose()
    return str(row[0])


def test_a_letter_is_revoked_and_the_district_applies_it(
    box: Sandbox, files: dict[str, Path]  # noqa: F811
) -> None:
    document_id = _sent_and_received(box, files)
    code, output = _cli(box, COMMUNE, "revoke", document_id, "--reason", "Gửi nhầm")
    assert code == 0, output
    assert "revoke queued" in output
    commune, district = _office(box, COMMUNE), _office(box, DISTRICT)
    try:
        assert steps.send_due(commune).done == 1
        assert steps.receive_documents(district).done == 1
        changes = steps.document_details(district.db, DISTRICT, document_id).changes
        assert [(c.change, c.outcome) for c in changes] == [("revoked", "applied")]
        assert steps.document_details(commune.db, COMMUNE, document_id).sent is not None
    finally:
        for o in (commune, district):
            o.db.dispose()
    again = _cli(box, COMMUNE, "revoke", document_id, "--reason", "lần nữa")
    assert again[0] == 1
    assert "revoked" in again[1]


def test_asked_back_and_given_back(box: Sandbox, files: dict[str, Path]) -> None:  # noqa: F811
    document_id = _sent_and_received(box, files)
    assert _cli(box, COMMUNE, "take-back", document_id, "--reason", "Sai số liệu")[0] == 0
    commune, district = _office(box, COMMUNE), _office(box, DISTRICT)
    try:
        steps.send_due(commune)
        steps.receive_statuses(district)
        code, output = _cli(box, DISTRICT, "answer-take-back", document_id, "--accept")
        assert code == 0, output
        assert "answer 15 queued" in output
        steps.send_due(district)
        steps.receive_statuses(commune)
        outcomes = [c.outcome for c in steps.document_details(commune.db, COMMUNE,
                                                               document_id).changes]
        assert "accepted" in outcomes
    finally:
        for o in (commune, district):
            o.db.dispose()


def test_bad_requests_say_why_and_queue_nothing(
    box: Sandbox, files: dict[str, Path]  # noqa: F811
) -> None:
    document_id = _sent_and_received(box, files)
    commune = _office(box, COMMUNE)
    try:
        with commune.db.read() as conn:
            before = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
    finally:
        commune.db.dispose()
    for args, words in (
        (("revoke", "000.12.05.H38,2020/01/01,9/KH-UBND", "--reason", "x"), "never sent"),
        (("revoke", document_id, "--reason", "   "), "reason"),
        (("take-back", "000.12.05.H38,2020/01/01,9/KH-UBND", "--reason", "x"), "never sent"),
    ):
        code, output = _cli(box, COMMUNE, *args)
        assert code == 1, (args, output)
        assert words in output.lower(), (args, output)
    code, output = _cli(box, DISTRICT, "answer-take-back", "nothing-here", "--refuse")
    assert code == 1
    assert "no received document" in output
    commune = _office(box, COMMUNE)
    try:
        with commune.db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one() == before
    finally:
        commune.db.dispose()


def test_a_letter_replaced_then_updated_and_the_chain_in_status(
    box: Sandbox, files: dict[str, Path]  # noqa: F811
) -> None:
    document_id = _sent_and_received(box, files)
    code, output = _cli(box, COMMUNE, "replace", document_id, str(files["letter"]),
                        "--attach", str(files["sheet"]), "--reason", "Sửa số liệu",
                        "--subject", "V/v họp giao ban (thay thế)")
    assert code == 0, output
    assert "replacement queued" in output
    commune, district = _office(box, COMMUNE), _office(box, DISTRICT)
    try:
        [change] = steps.document_details(commune.db, COMMUNE, document_id).changes
        new_id = str(change.by_document_id)
        assert new_id.endswith(",2/UBND")  # the register's next number
        assert new_id in output
        assert steps.send_due(commune).done == 1
        assert steps.receive_documents(district).done == 1
        received = steps.received_files(district.db, DISTRICT, new_id)
        assert [f.data for f in received] == [files[k].read_bytes() for k in ("letter", "sheet")]
    finally:
        for o in (commune, district):
            o.db.dispose()
    code, output = _cli(box, DISTRICT, "status", document_id)
    assert code == 0, output
    assert "đã bị thay thế bởi / replaced by" in output
    assert "đã áp dụng / applied" in output
    code, output = _cli(box, DISTRICT, "status", new_id)
    assert "thay thế cho / replaces" in output

    code, output = _cli(box, COMMUNE, "update", new_id, "--reason", "Đổi hạn",
                        "--due", "2099-12-31")
    assert code == 0, output
    assert "update queued" in output
    commune, district = _office(box, COMMUNE), _office(box, DISTRICT)
    try:
        assert steps.send_due(commune).done == 1
        assert steps.receive_documents(district).done == 1
    finally:
        for o in (commune, district):
            o.db.dispose()
    code, output = _cli(box, DISTRICT, "status", new_id)
    assert "đã cập nhật / updated" in output
    code, output = _cli(box, COMMUNE, "replace", document_id, str(files["letter"]),
                        "--reason", "lần nữa")
    assert code == 1
    assert "was replaced on" in output


def test_update_and_replace_refusals_name_what_to_correct(
    box: Sandbox, files: dict[str, Path]  # noqa: F811
) -> None:
    document_id = _sent_and_received(box, files)
    commune = _office(box, COMMUNE)
    try:
        with commune.db.read() as conn:
            before = conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM outgoing_register),"
                " (SELECT count(*) FROM document_changes)").one()
    finally:
        commune.db.dispose()
    never = "000.12.05.H38,2020/01/01,9/UBND"
    for args, words in (
        (("replace", never, str(files["letter"]), "--reason", "x"), f"document {never}"),
        (("update", never, "--reason", "x", "--subject", "Mới"), f"document {never}"),
        (("replace", document_id, str(files["broken_docx"]), "--reason", "x"), "MAIN_FILE"),
        (("replace", document_id, str(files["letter"]), "--attach", str(files["text"]),
          "--reason", "x"), "--attach"),
        (("update", document_id, "--reason", "x", "--main", str(files["broken_docx"])),
         "--main"),
        (("update", document_id, "--reason", "x"), "at least one new field"),
        (("update", document_id, "--reason", "x", "--due", "mai"), "--due"),
    ):
        code, output = _cli(box, COMMUNE, *args)
        assert code == 1, (args, output)
        assert words in output, (args, output)
    commune = _office(box, COMMUNE)
    try:
        with commune.db.read() as conn:
            after = conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM outgoing_register),"
                " (SELECT count(*) FROM document_changes)").one()
    finally:
        commune.db.dispose()
    assert tuple(after) == tuple(before)
