"""One status vocabulary: ``edxml.StatusCode`` and its one table say what each code is
called, what a reply says, which clerk move may follow which and which codes are final;
no other module spells a code or its name again (issue 10)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from daemon_fixtures import Exchange
from sqlalchemy import select
from typer.testing import CliRunner

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.cli import app
from edoc_exchange.store import StoreError
from edoc_exchange.store.tables import outbox

PACKAGE = Path(__file__).resolve().parents[1] / "edoc_exchange"
HOME = PACKAGE / "edxml" / "models.py"
#: The local axis's own delivery states ("Đang xử lý" of an upload) are not the clerk's.
OTHER_VOCABULARIES = (PACKAGE / "sandbox" / "axis",)
#: Where a status code would be business logic, not format or protocol data.
CODE_USERS = ("office", "cli", "reports", "sandbox/demo.py", "store/inbox.py", "daemon")
S = edxml.StatusCode


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_module_spells_the_vocabulary_again() -> None:
    names = {text for code in S for text in (code.vi, code.description)}
    codes = {code.value for code in S}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == HOME or any(path.is_relative_to(o) for o in OTHER_VOCABULARIES):
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        for line, text in _strings(path):
            if any(name in text for name in names):
                found.append(f"{relative}:{line}: {text!r}")
            if text in codes and relative.startswith(CODE_USERS):
                found.append(f"{relative}:{line}: status code {text!r}")
    assert found == []


def test_the_table() -> None:
    assert [c.value for c in S.clerk_moves()] == ["02", "03", "04", "05", "06"]
    assert {c.value for c in S if c.final} == {"02", "06"} == steps.FINAL_STATUSES
    # Refusing and accepting only from "arrived"; the work moves forward from acceptance.
    assert S.REJECTED.follows == S.ACCEPTED.follows == {S.ARRIVED}
    assert S.ASSIGNED.follows == {S.ACCEPTED, S.ASSIGNED}
    assert S.DONE.follows == {S.ACCEPTED, S.ASSIGNED, S.PROCESSING}
    assert S.ARRIVED.follows == frozenset()  # the software sets it, never a clerk
    assert S.known("99") is None
    for code in S:
        assert code.vi
        assert code.en
        assert code.description.startswith(code.vi)


#: How a received document reaches each clerk state: the moves, in order.
ROUTES = {
    S.ARRIVED: (),
    S.REJECTED: (S.REJECTED,),
    S.ACCEPTED: (S.ACCEPTED,),
    S.ASSIGNED: (S.ACCEPTED, S.ASSIGNED),
    S.PROCESSING: (S.ACCEPTED, S.ASSIGNED, S.PROCESSING),
    S.DONE: (S.ACCEPTED, S.DONE),
}


@pytest.mark.parametrize("code", list(S.clerk_moves()))
def test_every_move_of_the_table_and_no_other(exchange: Exchange, code: S) -> None:
    """From every clerk state, a move to ``code`` is allowed exactly when the table says
    so, and the reply carries the table's description."""
    ex = exchange
    docs = {state: ex.plan(str(n + 1)) for n, state in enumerate(ROUTES)}
    for doc in docs.values():
        steps.queue_message(ex.commune, edxml.write(doc))
    assert steps.send_due(ex.commune).done == len(docs)
    assert steps.receive_documents(ex.district).done == len(docs)
    for state, doc in docs.items():
        document_id = doc.document_id or ""
        for move in ROUTES[state]:
            steps.mark(ex.district, document_id, move)
        if state in code.follows:
            row = steps.mark(ex.district, document_id, code, "ghi chú")
            assert row.clerk_state == code
        else:
            with pytest.raises(StoreError) as refused:
                steps.mark(ex.district, document_id, code)
            assert refused.value.en.startswith(
                f"cannot move the document from state {state.value} to {code.value}"
            )
    with ex.district.db.engine.connect() as conn:
        replies = conn.execute(
            select(outbox.c.message).where(
                outbox.c.kind == "status", outbox.c.status_code == code.value
            )
        ).scalars()
        descriptions = [edxml.read(m).message for m in replies]
    allowed_from = [s for s in ROUTES if s in code.follows]
    moved_there = sum(1 for s in ROUTES for m in ROUTES[s] if m is code)
    assert len(descriptions) == len(allowed_from) + moved_there
    for message in descriptions:
        assert isinstance(message, edxml.StatusMessage)
        assert message.description is not None
        assert message.description.startswith(code.description)


def test_the_command_line_offers_the_tables_moves() -> None:
    """``edoc mark`` refuses a code the table gives the clerk no move to, before anything
    else (no configuration is read), naming the moves there are."""
    refused = CliRunner().invoke(app, ["mark", "000.00.01.H17,2025/01/01,1/KH", "01"])
    assert refused.exit_code == 2
    assert "02, 03, 04, 05, 06" in refused.output


def test_a_reply_of_an_unknown_code_carries_the_code(exchange: Exchange) -> None:
    msg = steps.status_message(exchange.district, exchange.plan(), "99")
    assert (msg.status_code, msg.description) == ("99", "99")
    known = steps.status_message(exchange.district, exchange.plan(), S.ACCEPTED, "số 45")
    assert known.description == "Tiếp nhận - đã vào sổ văn bản đến: số 45"
