"""A draft composed from a plan written in YAML, over real HTTP: uploaded on the new-draft
page, approved by the leader, issued by the văn thư with the number the register gives,
that number printed in the signed PDF the district receives; bad files refused on the page
with the line and field named, nothing stored.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from axis_fixtures import COMMUNE_A, DISTRICT
from compose_fixtures import PLAN_YAML, pdf_text
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from pyhanko.pdf_utils.reader import PdfFileReader
from test_outgoing import pdf_bytes, png_bytes, ready, snapshot
from web_fixtures import (
    Staff,
    csrf_of,
    pages,  # noqa: F401  (fixture)
    signed_in_client,
)

from edoc_exchange import edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.office import outgoing
from edoc_exchange.store import DraftState
from edoc_exchange.store.tables import inbox, outbox

SUBJECT = "Cải thiện Chỉ số hiệu quả quản trị và hành chính công (PAPI) xã Nậm Khánh năm 2020"


def plan_text() -> str:
    """The seed plan, issued by the test's commune to the test's district."""
    text = PLAN_YAML.read_text(encoding="utf-8")
    return text.replace("000.12.05.H38", COMMUNE_A).replace("000.00.05.H38", DISTRICT)


def _upload(client: httpx.Client, base: str, name: str, data: bytes, path: str,
            **extra: str) -> httpx.Response:
    token = csrf_of(client, "/drafts")
    return client.post(path, data={"csrf_token": token, **extra},
                       files=[("yaml_file", (name, data, "application/yaml"))],
                       headers={"origin": base})


def _post(client: httpx.Client, base: str, path: str, **data: str) -> httpx.Response:
    token = csrf_of(client, "/drafts")
    return client.post(path, data={**data, "csrf_token": token}, headers={"origin": base})


def _signatures(pdf: bytes) -> int:
    return len(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)


@pytest.fixture
def served(
    exchange: Exchange, pages: Callable[..., str]  # noqa: F811
) -> tuple[str, Exchange, Staff]:
    people = ready(exchange)
    return pages(exchange.commune), exchange, people


def test_the_seed_plan_becomes_a_draft_and_goes_out_with_its_issued_number(
    served: tuple[str, Exchange, Staff],
) -> None:
    base, ex, _ = served
    with signed_in_client(base, "chuyenvien") as officer:
        form = officer.get("/drafts/new")
        assert "Soạn từ tệp kế hoạch/báo cáo (YAML)" in form.text
        assert 'action="/drafts/from-yaml"' in form.text
        created = _upload(officer, base, "ke-hoach-papi-2020.yaml", plan_text().encode(),
                          "/drafts/from-yaml")
        assert created.status_code == 303, created.text
        path = created.headers["location"]
        page = officer.get(path)
        assert SUBJECT in page.text
        assert "UBND huyện Bắc Hà" in page.text
        assert "/edit" not in page.text  # a composed draft is corrected by its YAML
        draft_id = int(path.rsplit("/", 1)[1])
        details = outgoing.draft_details(ex.commune, draft_id)
        assert details.fields["subject"] == SUBJECT
        assert details.fields["recipients"] == [DISTRICT]
        assert details.fields["notation"] == "KH-UBND"
        assert details.fields["type_name"] == "Kế hoạch"
        assert details.fields["signer_name"] == "Vũ Ngọc Thiện"
        assert [f.name for f in details.files] == ["KH-UBND-2020-06-04.pdf",
                                                   "ke-hoach-papi-2020.yaml"]
        preview = officer.get(f"{path}/files/0")
        assert preview.headers["content-type"] == "application/pdf"
        # The draft's PDF has a blank number and no signature: neither is known yet.
        assert "Số: /KH-UBND" in pdf_text(preview.content)
        assert _signatures(preview.content) == 0
        assert _post(officer, base, f"{path}/submit").status_code == 303
    with signed_in_client(base, "chutich") as leader:
        assert _post(leader, base, f"{path}/approve").status_code == 303
    with signed_in_client(base, "vanthu") as clerk:
        issued = _post(clerk, base, f"{path}/issue", number="")
        assert issued.status_code == 303, issued.text
        assert "Đã phát hành" in clerk.get(path).text
    details = outgoing.draft_details(ex.commune, draft_id)
    assert details.state is DraftState.ISSUED
    document_id = edxml.DocumentId.parse(str(details.document_id))
    assert document_id.number == "1"
    assert str(document_id.organ_id) == COMMUNE_A
    assert document_id.date.isoformat() == "2020-06-04"
    with ex.commune.db.read() as conn:
        [row] = conn.execute(sa.select(outbox.c.message).where(
            outbox.c.document_id == str(document_id))).all()
    sent = edxml.read(bytes(row.message), strict=True).message
    assert isinstance(sent, edxml.Document)
    assert sent.code is not None
    assert sent.code.number == "1"
    assert [a.name for a in sent.attachments] == ["1-KH-UBND-2020-06-04.pdf"]  # no YAML
    assert "Số: 1/KH-UBND" in pdf_text(sent.attachments[0].data)
    assert _signatures(sent.attachments[0].data) == 1  # PAdES, made at issue
    # The draft now holds the PDF that was sent.
    _, _, kept = outgoing.draft_file(ex.commune, draft_id, 0)
    assert kept == sent.attachments[0].data

    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    with ex.district.db.read() as conn:
        [got] = conn.execute(sa.select(inbox.c.document_id, inbox.c.message)).all()
    assert got.document_id == str(document_id)
    received = signing.verify(bytes(got.message), ex.district.trust()).message
    assert isinstance(received, edxml.Document)
    assert received.subject == SUBJECT
    assert "Số: 1/KH-UBND" in pdf_text(received.attachments[0].data)


def _without(text: str, key: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(f"{key}:"))


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def _bad_inputs() -> list[tuple[str, str, bytes, list[str]]]:
    plan = plan_text()
    unknown = plan.replace(f"organ_id: {DISTRICT}", "organ_id: 000.99.99.H99")
    not_ours = PLAN_YAML.read_text(encoding="utf-8")
    broken = plan.replace("kind: plan\n", "kind: plan\n  bad: : [\n", 1)
    return [
        ("a pdf", "ke-hoach.pdf", pdf_bytes(), ["draft.yaml_file", ".yaml"]),
        ("binary named yaml", "ke-hoach.yaml", png_bytes(), ["UTF-8"]),
        ("not yaml", "ke-hoach.yaml", broken.encode(),
         [f"dòng {_line_of(broken, 'bad: :')}", "YAML"]),
        ("a list, not a mapping", "ke-hoach.yaml", b"- a\n- b\n", ["dòng 1"]),
        ("missing subject", "ke-hoach.yaml", _without(plan, "subject").encode(),
         ["Thiếu trường bắt buộc", "subject"]),
        ("unknown recipient", "ke-hoach.yaml", unknown.encode(),
         [f"dòng {_line_of(unknown, '000.99.99.H99')}", "recipients[0].organ_id",
          "000.99.99.H99"]),
        ("another issuer", "ke-hoach.yaml", not_ours.encode(),
         [f"dòng {_line_of(not_ours, '000.12.05.H38')}", "issuer.organ_id"]),
        ("huge", "ke-hoach.yaml", plan.encode() + b"#" * (3 * 1024 * 1024),
         ["draft.yaml_file", "KiB"]),
        ("empty", "ke-hoach.yaml", b"  \n", ["draft.yaml_file"]),
        ("path in the name", "../ke-hoach.yaml", plan.encode(), ["draft.yaml_file"]),
    ]


BAD = _bad_inputs()


@pytest.mark.parametrize(("case", "name", "data", "shown"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_yaml_is_named_on_the_page_and_nothing_is_stored(
    served: tuple[str, Exchange, Staff], case: str, name: str, data: bytes, shown: list[str]
) -> None:
    base, ex, _ = served
    before = snapshot(ex.commune)
    with signed_in_client(base, "chuyenvien") as officer:
        answer = _upload(officer, base, name, data, "/drafts/from-yaml")
    assert answer.status_code == 400, answer.text
    assert 'role="alert"' in answer.text
    for words in shown:
        assert words in answer.text, (case, words)
    assert 'name="yaml_file"' in answer.text  # the form is there to try again
    assert snapshot(ex.commune) == before


def test_roles_csrf_and_a_taken_number(served: tuple[str, Exchange, Staff]) -> None:
    base, ex, people = served
    before = snapshot(ex.commune)
    with signed_in_client(base, "quantri") as admin:
        refused = _upload(admin, base, "k.yaml", plan_text().encode(), "/drafts/from-yaml")
        assert refused.status_code == 403
    with signed_in_client(base, "chuyenvien") as officer:
        no_token = officer.post("/drafts/from-yaml",
                                files=[("yaml_file", ("k.yaml", plan_text().encode(), "x"))],
                                headers={"origin": base})
        assert no_token.status_code == 403
    assert snapshot(ex.commune) == before
    # A number written in the YAML that the register already gave is refused at its line.
    first = outgoing.draft_from_yaml(ex.commune, people.officer,
                                     plan_text().replace("number:  #", "number: 3  #").encode(),
                                     "k.yaml")
    outgoing.submit_draft(ex.commune, people.officer, first)
    outgoing.approve_draft(ex.commune, people.leader, first)
    assert outgoing.issue_draft(ex.commune, people.clerk, first).number == 3
    again = plan_text().replace("number:  #", "number: 3  #")
    before = snapshot(ex.commune)
    with signed_in_client(base, "chuyenvien") as officer:
        answer = _upload(officer, base, "k.yaml", again.encode(), "/drafts/from-yaml")
    assert answer.status_code == 400
    assert f"dòng {_line_of(again, 'number: 3')}" in answer.text
    assert "đã được dùng" in answer.text
    assert snapshot(ex.commune) == before


def test_a_returned_composed_draft_is_corrected_by_its_yaml(
    served: tuple[str, Exchange, Staff],
) -> None:
    base, ex, people = served
    draft = outgoing.draft_from_yaml(ex.commune, people.officer, plan_text().encode(),
                                     "k.yaml")
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.return_draft(ex.commune, people.leader, draft, "Sửa trích yếu")
    form = outgoing.DraftForm("ke-hoach", "KH-UBND", "Khác", [DISTRICT], place="Nậm Khánh",
                              signer_position="CHỦ TỊCH", signer_name="A")
    with pytest.raises(outgoing.DraftError, match="YAML"):
        outgoing.update_draft(ex.commune, people.officer, draft, form)
    corrected = plan_text().replace(f"subject: {SUBJECT}", "subject: Kế hoạch PAPI đã sửa")
    with signed_in_client(base, "chuyenvien") as officer:
        page = officer.get(f"/drafts/{draft}")
        assert f'action="/drafts/{draft}/from-yaml"' in page.text
        done = _upload(officer, base, "k2.yaml", corrected.encode(),
                       f"/drafts/{draft}/from-yaml", attach_source="1")
        assert done.status_code == 303, done.text
    details = outgoing.draft_details(ex.commune, draft)
    assert details.fields["subject"] == "Kế hoạch PAPI đã sửa"
    assert details.fields["return_note"] == "Sửa trích yếu"
    assert [f.name for f in details.files] == ["KH-UBND-2020-06-04.pdf", "k2.yaml"]
    outgoing.submit_draft(ex.commune, people.officer, draft)
    outgoing.approve_draft(ex.commune, people.leader, draft)
    issued = outgoing.issue_draft(ex.commune, people.clerk, draft, number=12)
    with ex.commune.db.read() as conn:
        message = conn.execute(sa.select(outbox.c.message).where(
            outbox.c.id == issued.outbox_id)).scalar_one()
    sent = edxml.read(bytes(message), strict=True).message
    assert isinstance(sent, edxml.Document)
    # Asked for, the YAML goes with the PDF; the PDF carries the number the clerk chose.
    assert [a.name for a in sent.attachments] == ["12-KH-UBND-2020-06-04.pdf",
                                                  "12-KH-UBND-2020-06-04.yaml"]
    assert sent.attachments[1].data == corrected.encode()
    assert "Số: 12/KH-UBND" in pdf_text(sent.attachments[0].data)


