"""The office API as another tool embeds it (examples/embed_office.py): the same rules,
from sync and from async code, on a real store fed through the real local axis."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from incoming_fixtures import send_document
from web_fixtures import PASSWORD, add_staff

from edoc_exchange.office import incoming, staff

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "embed_office.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embed_office", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sync_and_async_callers_get_the_same_documents_and_rules(
    exchange: Exchange,  # noqa: F811
) -> None:
    example = _example()
    add_staff(exchange.district)
    sent = send_document(exchange, "31", subject="Kế hoạch phòng chống thiên tai")
    clerk = example.sign_in(exchange.district, "vanthu", PASSWORD)
    officer = example.sign_in(exchange.district, "chuyenvien", PASSWORD)

    seen = example.waiting(exchange.district, clerk)
    assert [item.document_id for item in seen] == [sent.document_id]

    async def both() -> list[list[incoming.IncomingItem]]:
        # Two callers at once from one event loop, as two requests of an async app.
        found: list[list[incoming.IncomingItem]] = await asyncio.gather(
            example.waiting_async(exchange.district, clerk),
            example.waiting_async(exchange.district, officer),
        )
        return found

    for_clerk, for_officer = asyncio.run(both())
    assert [i.document_id for i in for_clerk] == [sent.document_id]
    assert for_officer == []  # an officer sees only what was assigned to them

    # The office function refuses a wrong role itself: no page is needed for the rule.
    with pytest.raises(incoming.IncomingError):
        incoming.register(exchange.district, seen[0].id, actor=officer)
    number = incoming.register(exchange.district, seen[0].id, actor=clerk)
    assert number == 1
    assert example.waiting(exchange.district, clerk) == []


def test_a_wrong_password_is_refused_to_an_embedding_tool_too(
    exchange: Exchange,  # noqa: F811
) -> None:
    example = _example()
    add_staff(exchange.district)
    with pytest.raises(staff.SignInRefusedError):
        example.sign_in(exchange.district, "vanthu", "not-the-password")
