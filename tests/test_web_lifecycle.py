"""Revoking and asking back a sent document from its page, over real HTTP: the văn thư
acts, the district applies it, a second revoke is refused with a message, an officer may
not act."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from test_lifecycle import _send_original
from web_fixtures import add_staff, csrf_of, pages, signed_in_client  # noqa: F401

from edoc_exchange import office as steps
from edoc_exchange.store.tables import outbox


def _outbox_id(ex: Exchange, document_id: str) -> int:
    with ex.commune.db.read() as conn:
        return int(
            conn.execute(
                outbox.select().with_only_columns(outbox.c.id).where(
                    outbox.c.document_id == document_id, outbox.c.kind == "edoc"
                )
            ).scalar_one()
        )


def _post(client: httpx.Client, base: str, path: str, reason: str) -> httpx.Response:
    token = csrf_of(client, "/outgoing")
    return client.post(path, data={"csrf_token": token, "reason": reason},
                       headers={"origin": base})


def test_a_clerk_revokes_a_sent_document_from_its_page(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    ex = exchange
    document_id = _send_original(ex)
    outbox_id = _outbox_id(ex, document_id)
    add_staff(ex.commune)
    base = pages(ex.commune)
    with signed_in_client(base, "chuyenvien") as officer:
        page = officer.get(f"/outgoing/{outbox_id}").text
        assert f"/outgoing/{outbox_id}/revoke" not in page  # not an officer's to do
        assert _post(officer, base, f"/outgoing/{outbox_id}/revoke", "x").status_code == 403
    with signed_in_client(base, "vanthu") as clerk:
        assert f"/outgoing/{outbox_id}/revoke" in clerk.get(f"/outgoing/{outbox_id}").text
        empty = _post(clerk, base, f"/outgoing/{outbox_id}/revoke", "   ")
        assert empty.status_code == 400
        assert "lifecycle" in empty.text
        done = _post(clerk, base, f"/outgoing/{outbox_id}/revoke", "Gửi nhầm")
        assert done.status_code == 303
        shown = clerk.get(done.headers["location"]).text
        assert "Đã xếp hàng thư thu hồi" in shown
        assert "Thu hồi" in shown
        assert f"/outgoing/{outbox_id}/revoke" not in shown  # revoked: no second button
        again = _post(clerk, base, f"/outgoing/{outbox_id}/revoke", "lần nữa")
        assert again.status_code == 400
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    changes = steps.document_details(ex.district.db, ex.district.office_id, document_id).changes
    assert [(c.change, c.outcome, c.reason) for c in changes] == [
        ("revoked", "applied", "Gửi nhầm")
    ]


def test_a_leader_asks_a_document_back_from_its_page(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    ex = exchange
    document_id = _send_original(ex)
    outbox_id = _outbox_id(ex, document_id)
    add_staff(ex.commune)
    base = pages(ex.commune)
    with signed_in_client(base, "chutich") as leader:
        done = _post(leader, base, f"/outgoing/{outbox_id}/take-back", "Sai số liệu")
        assert done.status_code == 303
        assert "Đã xếp hàng yêu cầu lấy lại" in leader.get(done.headers["location"]).text
    with ex.commune.db.read() as conn:
        codes = [
            r.status_code
            for r in conn.execute(outbox.select().where(outbox.c.kind == "status"))
        ]
    assert codes == ["13"]
