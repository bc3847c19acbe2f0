"""The lifecycle's bad inputs, each with the clear verdict or error it must give, over a
real local axis: a replace naming another sender's document (kept, reported, not applied,
that document untouched), a replace whose original never arrived (kept, "original
unknown"), an update or replace of a document this office never sent (refused, naming
it), a take-back answer with no request waiting, and new files that are not what their
names say (refused naming the file, nothing stored). Also the take-back answered from the
received document's page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from axis_fixtures import COMMUNE_A, COMMUNE_B, DISTRICT, NAMES, make_document
from daemon_fixtures import Exchange, exchange, make_office, sqlite_db  # noqa: F401
from sqlalchemy import func, select
from test_lifecycle_letter import LETTER, _form, _pass, _post, _rows, docx_bytes
from web_fixtures import add_staff, pages, signed_in_client  # noqa: F401

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.office import lifecycle, outgoing, refresh_directory
from edoc_exchange.sandbox import new_test_identity
from edoc_exchange.store.tables import document_changes, inbox, outbox, outgoing_register


def _letter(ex: Exchange) -> tuple[str, int]:
    """The commune's letter, sent and received: its DocumentId and outbox row."""
    refresh_directory(ex.commune)
    names = list(LETTER)
    sent = outgoing.send_document(
        ex.commune, _form(ex), outgoing.Upload(names[0], LETTER[names[0]]),
        [outgoing.Upload(n, LETTER[n]) for n in names[1:]], actor="vanthu",
    )
    _pass(ex)
    assert sent.outbox_id is not None
    return str(sent.document.document_id), sent.outbox_id


def _stored(office: steps.Office) -> tuple[int, ...]:
    """What a refusal must leave as it was: the outbox, the register, the changes."""
    with office.db.read() as conn:
        return tuple(
            int(conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in (outbox, outgoing_register, document_changes)
        )


def _commune_b(ex: Exchange) -> tuple[steps.Office, steps.Office]:
    """Commune B (trusted by the district) and the district trusting it."""
    b_id = new_test_identity(organ_id=COMMUNE_B, name=NAMES[COMMUNE_B])
    roots = [ex.identities[COMMUNE_A].ca_cert, ex.identities[DISTRICT].ca_cert, b_id.ca_cert]
    b_store = sqlite_db(ex.axis.root / "commune-b.sqlite3")
    ex.databases.append(b_store)
    commune_b = make_office(ex.axis, "xa-b", COMMUNE_B, b_store, b_id, roots, ex.clock, "b-1")
    district = make_office(
        ex.axis, "huyen", DISTRICT, ex.district.db, ex.identities[DISTRICT], roots, ex.clock,
        "d-2",
    )
    return commune_b, district


def _replacement_of(doc: edxml.Document, original: str) -> edxml.Document:
    return doc.model_copy(update={"business": edxml.Bussiness(
        doc_type=3, reason="Thay thế", paper=0,
        replacements=[edxml.ReplacementInfo(document_id=original, organ_ids=[DISTRICT])],
    )})


def test_a_replace_naming_another_senders_document_is_kept_not_applied(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    ex = exchange
    original, _outbox_id = _letter(ex)
    received_before = _rows(ex.district, inbox, document_id=original)
    commune_b, district = _commune_b(ex)
    forged = _replacement_of(make_document(COMMUNE_B, [DISTRICT], "8"), original)
    steps.queue_message(commune_b, edxml.write(forged))
    assert steps.send_due(commune_b).done == 1
    assert steps.receive_documents(district).done == 1

    [kept] = _rows(district, inbox, document_id=forged.document_id)  # stored
    [change] = _rows(district, document_changes)
    assert (change["issuer"], change["document_id"], change["change"], change["outcome"]) == (
        COMMUNE_B, original, "replaced", "refused")
    assert _rows(district, inbox, document_id=original) == received_before  # untouched
    [original_row] = received_before
    assert lifecycle.chain_received(district, original_row["id"]) == ()
    [line] = lifecycle.chain_received(district, kept["id"])
    assert line.outcome == ("không áp dụng: văn bản của nơi gửi khác",
                            "not applied: another sender's document")
    assert line.other_inbox_id is None  # never linked to commune A's document
    add_staff(district)
    with signed_in_client(pages(district), "vanthu") as clerk:
        assert "not applied: another sender" in clerk.get(f"/incoming/{kept['id']}").text
        untouched = clerk.get(f"/incoming/{original_row['id']}").text
    assert "Thu hồi, cập nhật, thay thế, lấy lại" not in untouched  # no chain at all
    assert "đã bị thay thế" not in untouched


def test_a_replace_of_an_unknown_original_says_so(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    ex = exchange
    unknown = "000.05.01.H17,2025/03/14,99/KH-UBND"  # commune A's, never sent
    replacement = _replacement_of(ex.plan("21"), unknown)
    steps.queue_message(ex.commune, edxml.write(replacement))
    _pass(ex)
    [kept] = _rows(ex.district, inbox)
    [line] = lifecycle.chain_received(ex.district, kept["id"])
    assert line.words == ("thay thế cho", "replaces")
    assert (line.other_document_id, line.other_inbox_id) == (unknown, None)
    assert line.outcome[1] == "original unknown: kept, not applied"
    add_staff(ex.district)
    with signed_in_client(pages(ex.district), "vanthu") as clerk:
        page = clerk.get(f"/incoming/{kept['id']}").text
    assert "original unknown" in page
    assert unknown in page


def test_update_or_replace_of_a_document_never_sent_names_it(
    exchange: Exchange,  # noqa: F811
) -> None:
    ex = exchange
    _letter(ex)
    before = _stored(ex.commune)
    never = "000.05.01.H17,2026/01/05,77/UBND"
    main = outgoing.Upload("v2.docx", docx_bytes("v2"))
    with pytest.raises(steps.LifecycleError, match=re.escape(f"never sent document {never}")):
        lifecycle.replace_with_files(ex.commune, never, main, reason="Thay thế")
    with pytest.raises(steps.LifecycleError, match=re.escape(f"never sent document {never}")):
        lifecycle.update(ex.commune, never, "Cập nhật", subject="Mới")
    # a peer's document we received is not ours to replace either
    theirs = make_document(DISTRICT, [COMMUNE_A], "3")
    with pytest.raises(steps.LifecycleError, match="never sent document"):
        lifecycle.replace_with_files(ex.commune, theirs.document_id or "", main, reason="x")
    assert _stored(ex.commune) == before


def test_new_files_that_are_not_what_their_names_say_are_refused(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    ex = exchange
    original, outbox_id = _letter(ex)
    before = _stored(ex.commune)
    fake_docx = outgoing.Upload("cong-van-v2.docx", b"just text, not a Word file")
    fake_png = outgoing.Upload("anh.png", b"\x89PNG\r\n\x1a\n truncated")
    good = outgoing.Upload("cong-van-v2.docx", docx_bytes("v2"))
    with pytest.raises(outgoing.DraftError, match=r"cong-van-v2\.docx' is not a valid Word") as e:
        lifecycle.replace_with_files(ex.commune, original, fake_docx, reason="Thay thế")
    assert e.value.step == "draft.main_file"
    with pytest.raises(outgoing.DraftError, match=r"anh\.png' is not a valid PNG") as e:
        lifecycle.replace_with_files(ex.commune, original, good, [fake_png], reason="Thay")
    assert e.value.step == "draft.attachments[1]"
    with pytest.raises(outgoing.DraftError, match="not a valid Word") as e:
        lifecycle.update(ex.commune, original, "Sửa tệp", files=[fake_docx])
    assert e.value.step == "draft.main_file"
    assert _stored(ex.commune) == before

    add_staff(ex.commune)
    base = pages(ex.commune)
    with signed_in_client(base, "vanthu") as clerk:
        for action in ("replace", "update"):
            refused = _post(clerk, base, f"/outgoing/{outbox_id}/{action}", {"reason": "Sửa"},
                            [("main_file", (fake_docx.name, fake_docx.data))])
            assert refused.status_code == 400, action
            assert "is not a valid Word (DOCX) file" in refused.text
        no_file = _post(clerk, base, f"/outgoing/{outbox_id}/replace", {"reason": "Sửa"})
        assert no_file.status_code == 400
        assert "main file" in no_file.text
    with signed_in_client(base, "chuyenvien") as officer:  # not an officer's to do
        assert _post(officer, base, f"/outgoing/{outbox_id}/replace", {"reason": "x"},
                     [("main_file", (good.name, good.data))]).status_code == 403
    assert _stored(ex.commune) == before


def test_take_back_answered_from_the_page_and_answers_to_nothing_refused(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> None:
    ex = exchange
    original, _outbox_id = _letter(ex)
    [item] = _rows(ex.district, inbox)
    add_staff(ex.district)
    base = pages(ex.district)
    path = f"/incoming/{item['id']}/take-back-answer"

    def answer(client: Any, **data: str) -> Any:
        return _post(client, base, path, data)

    with signed_in_client(base, "vanthu") as clerk:
        assert path not in clerk.get(f"/incoming/{item['id']}").text
        nothing = answer(clerk, answer="accept")
        assert nothing.status_code == 400
        assert "no take-back request waiting" in nothing.text
        assert _post(clerk, base, "/incoming/999999/take-back-answer",
                     {"answer": "refuse", "note": "x"}).status_code == 400

    lifecycle.take_back(ex.commune, original, "Gửi nhầm nơi nhận")
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_statuses(ex.district).done == 1
    with signed_in_client(base, "chuyenvien") as officer:
        assert answer(officer, answer="accept").status_code == 403
    with signed_in_client(base, "chutich") as leader:
        page = leader.get(f"/incoming/{item['id']}").text
        assert path in page
        assert "Gửi nhầm nơi nhận" in page
        no_reason = answer(leader, answer="refuse")
        assert no_reason.status_code == 400
        assert "needs a reason" in no_reason.text
        done = answer(leader, answer="refuse", note="Đã phân công xử lý, không trả lại")
        assert done.status_code == 303
        shown = leader.get(done.headers["location"]).text
        assert "Đã xếp hàng trả lời nơi gửi" in shown
        assert path not in shown  # answered: no second answer
        assert answer(leader, answer="accept").status_code == 400
    assert steps.send_due(ex.district).done >= 1  # the automatic 01 goes too
    assert steps.receive_statuses(ex.commune).done >= 1
    outcomes = [(c.change.change, c.outcome[1]) for c in
                lifecycle.chain_sent(ex.commune, original)]
    assert outcomes == [("takeback", "waiting for an answer"),
                        ("takeback", edxml.StatusCode.CHANGE_REFUSED.en)]
    with ex.commune.db.read() as conn:
        codes = conn.execute(
            select(outbox.c.status_code).where(outbox.c.kind == "status")).scalars().all()
    assert list(codes) == [edxml.StatusCode.TAKE_BACK_REQUESTED.value]
