"""A document's lifecycle end to end: revoke, update, replace and take back on a real local
axis, each applied on receipt to the stored original of the same sender, never changing
the original rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from axis_fixtures import COMMUNE_A, COMMUNE_B, DISTRICT, NAMES, make_document
from daemon_fixtures import Exchange, make_office, sqlite_db
from sqlalchemy import func, select

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.office import lifecycle
from edoc_exchange.sandbox import new_test_identity
from edoc_exchange.store.tables import document_changes, inbox, outbox, recipient_statuses


def _rows(office: steps.Office, table: Any, **where: Any) -> list[dict[str, Any]]:
    query = select(table).order_by(table.c[next(iter(table.primary_key.columns)).name])
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with office.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _count(office: steps.Office, table: Any) -> int:
    with office.db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def _events(office: steps.Office) -> list[str]:
    with office.db.engine.connect() as conn:
        return [e.event for e in audit.entries(conn, office.office_id)]


def _chain(office: steps.Office, document_id: str) -> list[tuple[str, str, str | None, str]]:
    details = steps.document_details(office.db, office.office_id, document_id)
    return [(c.document_id, c.change, c.by_document_id, c.outcome) for c in details.changes]


def _send_original(ex: Exchange, number: str = "12") -> str:
    doc = ex.plan(number)
    steps.queue_message(ex.commune, edxml.write(doc))
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    return doc.document_id or ""


def _with_business(doc: edxml.Document, business: edxml.Bussiness) -> edxml.Document:
    return doc.model_copy(update={"business": business})


def test_replaced_then_revoked_both_stores_show_the_chain(exchange: Exchange) -> None:
    ex = exchange
    original = _send_original(ex)
    sent_before = _rows(ex.commune, outbox, document_id=original)
    received_before = _rows(ex.district, inbox, document_id=original)

    new_version = ex.plan("13", subject="Kế hoạch tổ chức Ngày hội (bản thay thế)")
    new_id = new_version.document_id or ""
    replaced = steps.replace(ex.commune, original, new_version, "Sửa số liệu", actor="Lan")
    assert replaced.change.outcome == "sent"
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1

    # the replacement arrived as a document of its own, naming the original
    [stored] = _rows(ex.district, inbox, document_id=new_id)
    assert stored["business_doc_type"] == 3
    message = edxml.read(bytes(stored["message"])).message
    assert isinstance(message, edxml.Document)
    assert message.business is not None
    assert [r.document_id for r in message.business.replacements] == [original]
    assert message.business.replacements[0].organ_ids == [DISTRICT]

    revoked = steps.revoke(ex.commune, new_id, "Hủy kế hoạch")
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    assert revoked.change.by_outbox_id == revoked.outbox_ids[0]
    # the sender's view of the replacement is still the replacement, not the revoke that
    # re-used its DocumentId
    details = steps.document_details(ex.commune.db, ex.commune.office_id, new_id)
    assert details.sent is not None
    assert details.sent.id not in revoked.outbox_ids
    assert details.sent.id in replaced.outbox_ids

    assert _chain(ex.commune, original) == [(original, "replaced", new_id, "sent")]
    assert _chain(ex.commune, new_id) == [
        (original, "replaced", new_id, "sent"),
        (new_id, "revoked", new_id, "sent"),
    ]
    assert _chain(ex.district, original) == [(original, "replaced", new_id, "applied")]
    assert _chain(ex.district, new_id) == [
        (original, "replaced", new_id, "applied"),
        (new_id, "revoked", new_id, "applied"),
    ]
    # the revoke was stored beside the replacement (same DocumentId, business type 1)
    assert [r["business_doc_type"] for r in _rows(ex.district, inbox, document_id=new_id)] == [
        3,
        1,
    ]
    assert _events(ex.district).count("lifecycle_received") == 2
    assert _events(ex.commune).count("lifecycle_sent") == 2

    # the originals are untouched, byte for byte
    assert _rows(ex.commune, outbox, document_id=original) == sent_before
    assert _rows(ex.district, inbox, document_id=original) == received_before

    # a replaced (or revoked) document can be neither revoked, updated nor replaced again
    queued = _count(ex.commune, outbox)
    acts: list[Callable[[], object]] = [
        lambda: steps.revoke(ex.commune, original, "lần nữa"),
        lambda: steps.update(ex.commune, original, "lần nữa", subject="Mới"),
        lambda: steps.replace(ex.commune, original, ex.plan("14"), "lần nữa"),
        lambda: steps.revoke(ex.commune, new_id, "lần nữa"),
        lambda: steps.take_back(ex.commune, new_id, "lần nữa"),
    ]
    for act in acts:
        with pytest.raises(steps.LifecycleError, match=r"(replaced|revoked) on"):
            act()
    assert _count(ex.commune, outbox) == queued


def test_update_carries_the_new_fields_once(exchange: Exchange) -> None:
    ex = exchange
    original = _send_original(ex)
    steps.update(ex.commune, original, "Đổi trích yếu", subject="Trích yếu mới")
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    [_first, update] = _rows(ex.district, inbox, document_id=original)
    assert (update["business_doc_type"], update["subject"]) == (2, "Trích yếu mới")
    assert _chain(ex.district, original) == [(original, "updated", original, "applied")]
    with pytest.raises(steps.LifecycleError, match="updated once"):
        steps.update(ex.commune, original, "Lần hai", subject="Khác")
    with pytest.raises(steps.LifecycleError, match="at least one new field"):
        steps.update(ex.commune, original, "Không đổi gì")


def test_revoke_naming_another_senders_document_is_refused(exchange: Exchange) -> None:
    ex = exchange
    original = _send_original(ex)
    received_before = _rows(ex.district, inbox, document_id=original)
    # Commune B, trusted by the district, claims to revoke commune A's document.
    b_id = new_test_identity(organ_id=COMMUNE_B, name=NAMES[COMMUNE_B])
    roots = [ex.identities[COMMUNE_A].ca_cert, ex.identities[DISTRICT].ca_cert, b_id.ca_cert]
    b_store = sqlite_db(ex.axis.root / "commune-b.sqlite3")
    ex.databases.append(b_store)
    commune_b = make_office(ex.axis, "xa-b", COMMUNE_B, b_store, b_id, roots, ex.clock, "b-1")
    district = make_office(
        ex.axis, "huyen", DISTRICT, ex.district.db, ex.identities[DISTRICT], roots, ex.clock, "d-2"
    )
    forged = _with_business(
        make_document(COMMUNE_B, [DISTRICT], "7"),
        edxml.Bussiness(document_id=original, doc_type=1, reason="Thu hồi", paper=0),
    )
    steps.queue_message(commune_b, edxml.write(forged))
    assert steps.send_due(commune_b).done == 1
    assert steps.receive_documents(district).done == 1

    [refused] = _rows(district, document_changes)
    assert (refused["issuer"], refused["document_id"], refused["outcome"]) == (
        COMMUNE_B,
        original,
        "refused",
    )
    assert _chain(district, original) == []  # commune A's document has no change
    assert _rows(district, inbox, document_id=original) == received_before


def test_replace_of_an_unknown_original_is_kept_and_reported(exchange: Exchange) -> None:
    ex = exchange
    unknown = "000.05.01.H17,2025/03/14,99/KH-UBND"  # commune A's, never sent
    replacement = _with_business(
        ex.plan("20"),
        edxml.Bussiness(
            doc_type=3,
            reason="Thay thế",
            paper=0,
            replacements=[edxml.ReplacementInfo(document_id=unknown, organ_ids=[DISTRICT])],
        ),
    )
    steps.queue_message(ex.commune, edxml.write(replacement))
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    [kept] = _rows(ex.district, inbox)
    assert kept["document_id"] == replacement.document_id
    assert _chain(ex.district, unknown) == [
        (unknown, "replaced", replacement.document_id, "unknown-original")
    ]


def test_acting_on_a_document_never_sent_is_refused(exchange: Exchange) -> None:
    ex = exchange
    original = _send_original(ex, "31")
    queued_only = ex.plan("30")
    steps.queue_message(ex.commune, edxml.write(queued_only))  # queued, the axis never took it
    before = (_count(ex.commune, outbox), _count(ex.commune, document_changes))
    for document_id in ("000.05.01.H17,2025/03/14,404/KH-UBND", queued_only.document_id or ""):
        with pytest.raises(steps.LifecycleError, match="never sent"):
            steps.revoke(ex.commune, document_id, "Thu hồi")
        with pytest.raises(steps.LifecycleError, match="never sent"):
            steps.take_back(ex.commune, document_id, "Lấy lại")
    with pytest.raises(steps.LifecycleError, match="reason is required"):
        steps.revoke(ex.commune, original, "  ")
    with pytest.raises(steps.LifecycleError, match="DocumentId of its own"):
        steps.replace(ex.commune, original, ex.plan("31"), "Thay thế")
    with pytest.raises(steps.LifecycleError, match="queued already"):
        steps.replace(ex.commune, original, queued_only, "Thay thế")
    with pytest.raises(steps.LifecycleError, match="not this office"):
        steps.replace(ex.commune, original, make_document(COMMUNE_B, [DISTRICT], "5"), "x")
    assert (_count(ex.commune, outbox), _count(ex.commune, document_changes)) == before


def test_take_back_asked_answered_and_seen_by_the_sender(exchange: Exchange) -> None:
    ex = exchange
    original = _send_original(ex)
    [item] = _rows(ex.district, inbox)
    steps.send_due(ex.district)  # the automatic 01
    steps.receive_statuses(ex.commune)

    steps.take_back(ex.commune, original, "Gửi nhầm nơi nhận")
    with pytest.raises(steps.LifecycleError, match="asked already"):
        steps.take_back(ex.commune, original, "Lần nữa")
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_statuses(ex.district).done == 1
    assert _chain(ex.district, original) == [(original, "takeback", None, "asked")]

    steps.answer_take_back(ex.district, item["id"], True, note="Đồng ý")
    with pytest.raises(steps.LifecycleError, match="no take-back request waiting"):
        steps.answer_take_back(ex.district, item["id"], False)
    with pytest.raises(steps.LifecycleError, match="no take-back request waiting"):
        steps.answer_take_back(ex.district, 9999, True)
    assert steps.send_due(ex.district).done == 1
    assert steps.receive_statuses(ex.commune).done == 1

    [recipient] = _rows(ex.commune, recipient_statuses)
    assert (recipient["organ_id"], recipient["status_code"]) == (DISTRICT, "15")
    assert _chain(ex.commune, original) == [
        (original, "takeback", None, "asked"),
        (original, "takeback", None, "accepted"),
    ]
    assert _chain(ex.district, original)[-1] == (original, "takeback", None, "accepted")
    assert "take_back" in _events(ex.district)
    assert lifecycle.TAKE_BACK == "takeback"


def test_status_lines_show_the_chain() -> None:
    import dataclasses
    import datetime as dt

    from edoc_exchange.cli.office import _change_line
    from edoc_exchange.store.changes import Change

    old, new = "000.05.01.H17,2025/03/14,12/KH-UBND", "000.05.01.H17,2025/03/15,13/KH-UBND"
    at = dt.datetime(2025, 3, 15, 2, tzinfo=dt.UTC)
    replaced = Change(
        1, COMMUNE_A, "in", COMMUNE_A, old, "replaced", new, 7, None, "Sửa", "applied", at
    )
    assert _change_line(old, replaced) == (
        "Thay thế / replaced",
        f"đã bị thay thế bởi / replaced by {new} 2025-03-15 [đã áp dụng / applied] — Sửa",
    )
    assert _change_line(new, replaced) == (
        "Thay thế / replaced",
        f"thay thế cho / replaces {old} 2025-03-15 [đã áp dụng / applied]",
    )
    unknown = dataclasses.replace(replaced, outcome="unknown-original")
    assert "original unknown" in _change_line(old, unknown)[1]
