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


def test_a_clerk_updates_a_sent_document_with_a_new_file_from_its_page(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    from test_lifecycle_letter import docx_bytes

    from edoc_exchange import edxml
    from edoc_exchange.office import lifecycle
    from edoc_exchange.store.tables import inbox

    ex = exchange
    document_id = _send_original(ex)
    outbox_id = _outbox_id(ex, document_id)
    add_staff(ex.commune)
    base = pages(ex.commune)
    new_file = docx_bytes("Kế hoạch (đã sửa ngày tổ chức)")
    with signed_in_client(base, "vanthu") as clerk:
        token = csrf_of(clerk, "/outgoing")
        done = clerk.post(
            f"/outgoing/{outbox_id}/update",
            data={"csrf_token": token, "reason": "Đổi ngày tổ chức",
                  "subject": "Kế hoạch tổ chức Ngày hội (cập nhật)"},
            files=[("main_file", ("ke-hoach-cap-nhat.docx", new_file))],
            headers={"origin": base},
        )
        assert done.status_code == 303, done.text
        shown = clerk.get(done.headers["location"]).text
        assert "Đã xếp hàng thư cập nhật" in shown
        assert "đã cập nhật" in shown
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    with ex.district.db.read() as conn:
        rows = conn.execute(
            inbox.select().where(inbox.c.document_id == document_id).order_by(inbox.c.id)
        ).all()
    [first, update] = rows
    assert (update.business_doc_type, update.subject) == (
        2, "Kế hoạch tổ chức Ngày hội (cập nhật)")
    message = edxml.read(bytes(update.message)).message
    assert isinstance(message, edxml.Document)
    assert [(a.name, a.data) for a in message.attachments] == [
        ("ke-hoach-cap-nhat.docx", new_file)]
    assert message.business is not None
    assert message.business.document_id == document_id
    [line] = lifecycle.chain_received(ex.district, first.id)
    assert (line.words, line.other_inbox_id, line.outcome[1]) == (
        ("đã cập nhật", "updated"), update.id, "applied")
    add_staff(ex.district)
    with signed_in_client(pages(ex.district), "vanthu") as clerk:
        page = clerk.get(f"/incoming/{first.id}").text
        assert "đã cập nhật" in page
        assert f'<a href="/incoming/{update.id}">' in page
        update_page = clerk.get(f"/incoming/{update.id}").text
    assert "ke-hoach-cap-nhat.docx" in update_page
