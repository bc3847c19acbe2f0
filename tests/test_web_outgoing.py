"""The outgoing pages over real HTTP: drafts written from a multipart form, approved,
issued; the sent list and its resend button; roles, CSRF, and bad uploads shown on the
page with nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from axis_fixtures import DISTRICT
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from test_outgoing import docx_bytes, pdf_bytes, png_bytes, ready, snapshot, xlsx_bytes
from web_fixtures import (
    Staff,
    csrf_of,
    pages,  # noqa: F401  (fixture)
    signed_in_client,
)

from edoc_exchange import office as steps
from edoc_exchange.config import WebSettings
from edoc_exchange.office import outgoing
from edoc_exchange.store import DraftState, OutboxState
from edoc_exchange.store.tables import outbox

FIELDS: dict[str, Any] = {
    "doc_type": "ke-hoach",
    "notation": "KH-UBND",
    "subject": "Kế hoạch tổ chức Ngày hội <script>alert(1)</script>",
    "recipients": [DISTRICT],
    "priority": "2",
    "due_date": "",
    "place": "Nậm Khánh",
    "signer_competence": "TM. ỦY BAN NHÂN DÂN",
    "signer_position": "CHỦ TỊCH",
    "signer_name": "Nguyễn Văn Hùng",
}


def _files(main: tuple[str, bytes] | None = ("ke-hoach.pdf", b""),
           attachments: list[tuple[str, bytes]] | None = None) -> list[tuple[str, Any]]:
    chosen: list[tuple[str, Any]] = []
    if main is not None:
        name, data = main
        chosen.append(("main_file", (name, data or pdf_bytes(), "application/pdf")))
    for name, data in attachments if attachments is not None else [
        ("phu-luc.xlsx", xlsx_bytes()), ("ban-quet.png", png_bytes())
    ]:
        chosen.append(("attachments", (name, data, "application/octet-stream")))
    return chosen


def _post_draft(client: httpx.Client, base: str, *, fields: dict[str, Any] | None = None,
                files: list[tuple[str, Any]] | None = None) -> httpx.Response:
    token = csrf_of(client, "/drafts")
    return client.post("/drafts/new", data={**FIELDS, **(fields or {}), "csrf_token": token},
                       files=files if files is not None else _files(),
                       headers={"origin": base})


def _post(client: httpx.Client, base: str, path: str, **data: str) -> httpx.Response:
    token = csrf_of(client, "/drafts")
    return client.post(path, data={**data, "csrf_token": token}, headers={"origin": base})


@pytest.fixture
def served(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> tuple[str, Exchange, Staff]:
    people = ready(exchange)
    base = pages(exchange.commune, WebSettings(upload_max_mb=1))
    return base, exchange, people


def test_a_draft_goes_from_the_form_to_the_sent_list(
    served: tuple[str, Exchange, Staff],
) -> None:
    base, ex, _ = served
    with signed_in_client(base, "chuyenvien") as officer:
        form = officer.get("/drafts/new?q=bac+ha")
        assert form.status_code == 200
        assert "UBND huyện Bắc Hà" in form.text
        assert 'enctype="multipart/form-data"' in form.text
        created = _post_draft(officer, base)
        assert created.status_code == 303, created.text
        path = created.headers["location"]
        page = officer.get(path)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # text, never markup
        assert "<script>alert(1)" not in page.text
        assert "phu-luc.xlsx" in page.text
        pdf = officer.get(f"{path}/files/0")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
        assert _post(officer, base, f"{path}/submit").status_code == 303
        # An officer cannot approve, nor issue.
        assert _post(officer, base, f"{path}/approve").status_code == 403
    with signed_in_client(base, "chutich") as leader:
        assert "Duyệt" in leader.get(path).text
        assert _post(leader, base, f"{path}/approve").status_code == 303
        assert _post(leader, base, f"{path}/issue").status_code == 403
    with signed_in_client(base, "vanthu") as clerk:
        issued = _post(clerk, base, f"{path}/issue", number="")
        assert issued.status_code == 303
        detail = clerk.get(path)
        assert "Đã phát hành" in detail.text
        again = _post(clerk, base, f"{path}/issue", number="")
        assert again.status_code == 400
        assert "draft.state" in again.text
        listed = clerk.get("/outgoing")
        assert listed.status_code == 200
        assert len(listed.content) < 50_000
        assert "Chờ gửi" in listed.text
        assert "UBND huyện Bắc Hà" in listed.text
    steps.send_due(ex.commune)
    steps.receive_documents(ex.district)
    with signed_in_client(base, "quantri") as admin:  # the admin reads, and only reads
        listed = admin.get("/outgoing")
        assert "Đã gửi" in listed.text
        assert "Chưa" in listed.text or "chưa có trạng thái" in listed.text
        assert _post_draft(admin, base).status_code == 403


BAD_UPLOADS = [
    ("corrupt pdf", _files(main=("ke-hoach.pdf", b"%PDF-1.4 rubbish, no end"))),
    ("docx that is not", _files(main=("ke-hoach.docx", b"PK\x03\x04 not really a zip"))),
    ("pdf named docx", _files(main=("ke-hoach.docx", pdf_bytes()))),
    ("path in an attachment name", _files(attachments=[("../../x.png", png_bytes())])),
    ("over the size bound", _files(attachments=[("lon.pdf", pdf_bytes() + b"0" * 1_100_000)])),
    ("no main file", _files(main=None)),
]


@pytest.mark.parametrize(("case", "files"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS])
def test_a_bad_upload_is_shown_on_the_form_and_nothing_is_stored(
    served: tuple[str, Exchange, Staff], case: str, files: list[tuple[str, Any]]
) -> None:
    base, ex, _ = served
    before = snapshot(ex.commune)
    with signed_in_client(base, "chuyenvien") as officer:
        answer = _post_draft(officer, base, files=files)
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    assert "draft.main_file" in answer.text or "draft.attachments" in answer.text
    assert "Kế hoạch tổ chức Ngày hội" in answer.text  # the form comes back filled in
    assert snapshot(ex.commune) == before


@pytest.mark.parametrize(("field", "value", "step"), [
    ("recipients", ["000.99.99.H99"], "draft.recipients"),
    ("subject", "   ", "draft.subject"),
    ("notation", "KH UBND", "draft.notation"),
])
def test_bad_fields_are_named_on_the_page(
    served: tuple[str, Exchange, Staff], field: str, value: Any, step: str
) -> None:
    base, ex, _ = served
    before = snapshot(ex.commune)
    with signed_in_client(base, "chuyenvien") as officer:
        answer = _post_draft(officer, base, fields={field: value})
    assert answer.status_code == 400
    assert step in answer.text
    assert snapshot(ex.commune) == before


def test_a_taken_number_and_a_wrong_state_are_explained(
    served: tuple[str, Exchange, Staff],
) -> None:
    base, ex, people = served
    main = outgoing.Upload("a.pdf", pdf_bytes())
    form = outgoing.DraftForm(**{**FIELDS, "subject": "Thông báo"})
    ids = []
    for _ in range(2):
        draft = outgoing.create_draft(ex.commune, people.officer, form, main)
        outgoing.submit_draft(ex.commune, people.officer, draft)
        outgoing.approve_draft(ex.commune, people.leader, draft)
        ids.append(draft)
    with signed_in_client(base, "vanthu") as clerk:
        assert _post(clerk, base, f"/drafts/{ids[0]}/issue", number="5").status_code == 303
        before = snapshot(ex.commune)
        taken = _post(clerk, base, f"/drafts/{ids[1]}/issue", number="5")
        assert taken.status_code == 400
        assert "draft.number" in taken.text
        assert "đã được dùng" in taken.text
        bad = _post(clerk, base, f"/drafts/{ids[1]}/issue", number="năm")
        assert bad.status_code == 400
        assert snapshot(ex.commune) == before
    with signed_in_client(base, "chuyenvien") as officer:
        edit = officer.post(f"/drafts/{ids[1]}/edit",
                            data={**FIELDS, "csrf_token": csrf_of(officer, "/drafts")},
                            files=[("main_file", ("", b"", "application/octet-stream"))],
                            headers={"origin": base})
        assert edit.status_code == 400
        assert "draft.state" in edit.text
    assert snapshot(ex.commune) == before


def test_every_action_needs_a_session_a_role_and_the_csrf_token(
    served: tuple[str, Exchange, Staff],
) -> None:
    base, ex, people = served
    draft = outgoing.create_draft(ex.commune, people.officer, outgoing.DraftForm(**FIELDS),
                                  outgoing.Upload("a.pdf", pdf_bytes()))
    with httpx.Client(base_url=base) as anonymous:
        for path in ("/drafts", "/drafts/new", f"/drafts/{draft}", "/outgoing",
                     f"/drafts/{draft}/files/0"):
            assert anonymous.get(path).status_code == 303
        assert anonymous.post(f"/drafts/{draft}/submit").status_code == 401
    with signed_in_client(base, "chuyenvien") as officer:
        no_token = officer.post(f"/drafts/{draft}/submit", data={}, headers={"origin": base})
        assert no_token.status_code == 403
        forged = officer.post(f"/drafts/{draft}/submit",
                              data={"csrf_token": csrf_of(officer, "/drafts")},
                              headers={"origin": "http://evil.example"})
        assert forged.status_code == 403
    with signed_in_client(base, "quantri") as admin:
        assert admin.get(f"/drafts/{draft}").status_code == 200
        assert _post(admin, base, f"/drafts/{draft}/submit").status_code == 403
    assert outgoing.draft_details(ex.commune, draft).state is DraftState.DRAFT


def test_a_failed_document_is_resent_from_the_page(served: tuple[str, Exchange, Staff]) -> None:
    base, ex, people = served
    draft = outgoing.create_draft(ex.commune, people.officer, outgoing.DraftForm(**FIELDS),
                                  outgoing.Upload("a.docx", docx_bytes()))
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    issued = outgoing.issue_draft(ex.commune, people.clerk, draft)
    with ex.commune.db.transaction() as conn:
        conn.execute(sa.update(outbox).where(outbox.c.id == issued.outbox_id).values(
            state=OutboxState.FAILED, attempts=1, last_error="OrganId không hợp lệ"))
    path = f"/outgoing/{issued.outbox_id}"
    with signed_in_client(base, "chuyenvien") as officer:
        page = officer.get(path)
        assert "OrganId không hợp lệ" in page.text
        assert f"{path}/resend" not in page.text
        assert _post(officer, base, f"{path}/resend").status_code == 403
    with signed_in_client(base, "vanthu") as clerk:
        assert f"{path}/resend" in clerk.get("/outgoing").text
        answer = _post(clerk, base, f"{path}/resend")
        assert answer.status_code == 303
        assert "Đã xếp lại" in clerk.get(answer.headers["location"]).text
        twice = _post(clerk, base, f"{path}/resend")
        assert twice.status_code == 400
        assert "outgoing.state" in twice.text
    assert steps.send_due(ex.commune).done == 1


def test_pages_exist_in_english_too(served: tuple[str, Exchange, Staff]) -> None:
    base, ex, people = served
    outgoing.create_draft(ex.commune, people.officer, outgoing.DraftForm(**FIELDS),
                          outgoing.Upload("a.pdf", pdf_bytes()))
    with signed_in_client(base, "chutich", cookies={"edoc_lang": "en"}) as leader:
        for path in ("/drafts", "/drafts/new", "/drafts/1", "/outgoing"):
            page = leader.get(path)
            assert page.status_code == 200, path
            assert "drafts." not in page.text.replace("/drafts", "")
            assert "outgoing." not in page.text
        assert "Write a new draft" in leader.get("/drafts").text
