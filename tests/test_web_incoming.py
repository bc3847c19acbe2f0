"""The incoming documents' pages over real HTTP: the list (filters, accent-free search,
paging), the detail and its files, the actions and the statuses they send, and every
refusal (wrong state, wrong role, another office's document, no CSRF token) with nothing
stored half-way.

Documents reach the district through the local axis (the commune sends, the district
receives and verifies); the pages are served by uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from incoming_fixtures import SPREADSHEET, commune_sees, outbox_statuses, real_pdf, send_document
from sqlalchemy import Table, func, select
from web_fixtures import PASSWORD, Staff, add_staff, csrf_of, signed_in_client

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.config import WebSettings
from edoc_exchange.office import OfficeIdentity, notices, staff
from edoc_exchange.office.incoming import today_in_vietnam
from edoc_exchange.store import inbox as inbox_store
from edoc_exchange.store.tables import inbox, inbox_handling, incoming_register
from edoc_exchange.web import create_app
from edoc_exchange.web.serve import PagesServer


@dataclass
class Served:
    base: str
    ex: Exchange
    people: Staff
    docs: dict[str, edxml.Document]

    def inbox_id(self, key: str) -> int:
        with self.ex.district.db.read() as conn:
            row = inbox_store.find_incoming(
                conn, self.ex.district.office_id, document_id=self.docs[key].document_id
            )
        assert row is not None
        return row.id

    def state(self, key: str) -> str:
        with self.ex.district.db.read() as conn:
            row = inbox_store.incoming_by_id(conn, self.ex.district.office_id, self.inbox_id(key))
        assert row is not None
        return row.clerk_state

    def count(self, table: Table) -> int:
        with self.ex.district.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def served(exchange: Exchange) -> Iterator[Served]:  # noqa: F811
    ex = exchange
    people = add_staff(ex.district)
    today = today_in_vietnam(ex.district)
    docs = {
        "plan": send_document(ex, "12", due=today + dt.timedelta(days=10), priority=1),
        "late": send_document(
            ex, "13", subject="Báo cáo tình hình thu chi ngân sách quý I",
            due=today - dt.timedelta(days=3),
        ),
        "script": send_document(ex, "14", subject="<script>alert('x')</script> Thông báo họp"),
    }
    for n in range(15, 19):
        docs[f"n{n}"] = send_document(ex, str(n), subject=f"Công văn số {n} về đường giao thông")
    server = PagesServer(
        create_app(ex.district, WebSettings(page_size=5)), "127.0.0.1", 0
    )
    base = server.start()
    yield Served(base, ex, people, docs)
    server.stop()


def _post(client: httpx.Client, base: str, path: str, **data: str) -> httpx.Response:
    token = csrf_of(client, "/incoming")
    return client.post(path, data={"csrf_token": token, **data}, headers={"origin": base})


def _ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/incoming/(\d+)"', html)]


def test_list_pages_searches_and_filters(served: Served) -> None:
    s = served
    with signed_in_client(s.base, "vanthu") as clerk:
        first = clerk.get("/incoming")
        assert first.status_code == 200
        assert len(first.content) < 50_000
        assert "7 văn bản" in first.text
        assert len(_ids(first.text)) == 5
        assert "Trang 1 trên 2" in first.text
        # newest first: the last one sent is on top
        assert _ids(first.text)[0] == s.inbox_id("n18")
        second = clerk.get("/incoming?page=2")
        assert len(_ids(second.text)) == 2
        assert set(_ids(first.text)).isdisjoint(_ids(second.text))

        found = clerk.get("/incoming", params={"q": "ke hoach"})
        assert _ids(found.text) == [s.inbox_id("plan")]
        assert "Kế hoạch tổ chức" in found.text
        # accents typed, other case, the sender's name, the number
        assert _ids(clerk.get("/incoming", params={"q": "BÁO CÁO thu chi"}).text) == [
            s.inbox_id("late")
        ]
        assert "7 văn bản" in clerk.get("/incoming", params={"q": "nam khanh"}).text
        assert _ids(clerk.get("/incoming", params={"q": "17/KH-UBND"}).text) == [
            s.inbox_id("n17")
        ]
        assert "Không có văn bản nào" in clerk.get("/incoming", params={"q": "100%_x"}).text

        overdue = clerk.get("/incoming", params={"due": "overdue"})
        assert _ids(overdue.text) == [s.inbox_id("late")]
        assert "Quá hạn" in overdue.text
        due = clerk.get("/incoming", params={"due": "due"})
        assert set(_ids(due.text)) == {s.inbox_id("late"), s.inbox_id("plan")}

        today = today_in_vietnam(s.ex.district)
        tomorrow = (today + dt.timedelta(days=1)).isoformat()
        assert _ids(clerk.get("/incoming", params={"from": tomorrow}).text) == []
        assert len(_ids(clerk.get("/incoming", params={"to": today.isoformat()}).text)) == 5
        assert len(_ids(clerk.get("/incoming", params={"sender": "000.05.01.H17"}).text)) == 5
        assert _ids(clerk.get("/incoming", params={"sender": "000.99.99.H17"}).text) == []

        bad = clerk.get("/incoming", params={"from": "14/03/2025"})
        assert bad.status_code == 400
        assert "Ngày không hợp lệ" in bad.text
        backwards = clerk.get("/incoming", params={"from": tomorrow, "to": today.isoformat()})
        assert backwards.status_code == 400
        assert "Ngày bắt đầu phải trước ngày kết thúc" in backwards.text
        assert clerk.get("/incoming", params={"state": "99"}).status_code == 400

        # the filter by state follows the register
        plan = s.inbox_id("plan")
        assert _post(clerk, s.base, f"/incoming/{plan}/register").status_code == 303
        assert _ids(clerk.get("/incoming", params={"state": "03"}).text) == [plan]
        assert len(_ids(clerk.get("/incoming", params={"state": "01", "page": "2"}).text)) == 1


def test_unread_rows_and_the_notices(served: Served) -> None:
    s = served
    with signed_in_client(s.base, "vanthu") as clerk:
        page = clerk.get("/incoming")
        assert page.text.count('class="unread"') == 5
        # 7 new, 1 overdue, which is one of the new ones: counted once
        assert re.search(r'class="badge"[^>]*>7<', page.text)
        listed = clerk.get("/notices")
        assert listed.status_code == 200
        assert "Văn bản mới <span class=\"muted\">(7)" in listed.text
        assert "Văn bản quá hạn <span class=\"muted\">(1)" in listed.text
        after = clerk.get("/incoming")
        assert 'class="unread"' not in after.text
        assert re.search(r'class="badge"[^>]*>1<', after.text)  # still overdue
    # the functions the e-mail sender calls
    clerk_user = staff.find_user(s.ex.district.db, s.people.clerk.id)
    assert clerk_user is not None
    assert notices.new_since(s.ex.district, clerk_user) == []
    [late] = notices.overdue(s.ex.district, clerk_user, today_in_vietnam(s.ex.district))
    assert late.id == s.inbox_id("late")
    # an officer is told of what was assigned to them only; an admin of nothing
    assert notices.badge(s.ex.district, s.people.officer) == 0
    assert notices.badge(s.ex.district, s.people.admin) == 0


def test_detail_shows_the_document_its_signature_and_its_files(served: Served) -> None:
    s = served
    plan = s.inbox_id("plan")
    with signed_in_client(s.base, "vanthu") as clerk:
        page = clerk.get(f"/incoming/{plan}")
        assert page.status_code == 200
        text = page.text
        for expected in (
            "Kế hoạch tổ chức Ngày hội Đại đoàn kết",
            "UBND xã Nậm Khánh",
            "12/KH-UBND",
            s.docs["plan"].document_id or "",
            "Hợp lệ",  # the signature, in words
            "Khẩn",  # priority 1
            "ke-hoach.pdf",
            "phụ lục số liệu.xlsx",
            "Chữ ký trên tệp PDF",  # the PDF's own signature, checked on receipt
            "Không có chữ ký",
        ):
            assert expected in text, expected
        assert '<iframe class="pdf"' in text
        assert f'src="/incoming/{plan}/files/0?inline=1"' in text
        assert re.search(r"Chứng thư của</dt><dd>[^<]*Nậm Khánh", text)

        pdf = clerk.get(f"/incoming/{plan}/files/0")
        assert pdf.status_code == 200
        assert pdf.content == real_pdf()
        assert pdf.headers["content-disposition"].startswith("attachment;")
        inline = clerk.get(f"/incoming/{plan}/files/0?inline=1")
        assert inline.content == real_pdf()
        assert inline.headers["content-type"] == "application/pdf"
        assert inline.headers["content-disposition"].startswith("inline;")
        assert inline.headers["x-frame-options"] == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in inline.headers["content-security-policy"]

        sheet = clerk.get(f"/incoming/{plan}/files/1?inline=1")  # never inline
        assert sheet.content == SPREADSHEET
        assert sheet.headers["content-disposition"] == (
            "attachment; filename=\"phu luc so lieu.xlsx\"; "
            "filename*=UTF-8''ph%E1%BB%A5%20l%E1%BB%A5c%20s%E1%BB%91%20li%E1%BB%87u.xlsx"
        )
        assert clerk.get(f"/incoming/{plan}/files/2").status_code == 404
        assert clerk.get(f"/incoming/{plan}/files/x").status_code == 404
        assert clerk.get("/incoming/999999").status_code == 404


def test_an_html_attachment_is_never_served_as_a_page(served: Served) -> None:
    s = served
    doc = send_document(
        s.ex, "30",
        attachments=[edxml.Attachment(
            name="trang.html", content_type="text/html", data=b"<script>alert(1)</script>"
        )],
    )
    s.docs["html"] = doc
    with signed_in_client(s.base, "vanthu") as clerk:
        got = clerk.get(f"/incoming/{s.inbox_id('html')}/files/0?inline=1")
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert "sandbox" in got.headers["content-security-policy"]


def test_a_script_subject_is_shown_as_text(served: Served) -> None:
    s = served
    with signed_in_client(s.base, "vanthu") as clerk:
        for path in ("/incoming", f"/incoming/{s.inbox_id('script')}", "/notices"):
            text = clerk.get(path).text
            assert "<script>alert" not in text, path
            assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Thông báo họp" in text, path


def test_actions_send_their_statuses_and_name_who_did_them(served: Served) -> None:
    s = served
    ex = s.ex
    plan = s.inbox_id("plan")
    document_id = s.docs["plan"].document_id or ""
    deadline = (today_in_vietnam(ex.district) + dt.timedelta(days=5)).isoformat()
    with signed_in_client(s.base, "vanthu") as clerk:
        done = _post(clerk, s.base, f"/incoming/{plan}/register", note="Chuyển chủ tịch")
        assert done.status_code == 303
        assert done.headers["location"] == f"/incoming/{plan}?done=register"
        page = clerk.get(done.headers["location"]).text
        assert "Đã vào sổ văn bản đến" in page
        assert "Số đến 1/" in page
        assert "Lò Thị Mai" in page  # registered by
        assigned = _post(
            clerk, s.base, f"/incoming/{plan}/assign",
            assignee=str(s.people.officer.id), deadline=deadline,
        )
        assert assigned.status_code == 303
        assert "Vàng A Sính" in clerk.get(f"/incoming/{plan}").text
    with signed_in_client(s.base, "chuyenvien") as officer:
        mine = officer.get("/incoming")
        assert _ids(mine.text) == [plan]  # sees only what was assigned to them
        assert _post(officer, s.base, f"/incoming/{plan}/progress").status_code == 303
        finished = _post(officer, s.base, f"/incoming/{plan}/done", note="Đã triển khai")
        assert finished.status_code == 303
    assert s.state("plan") == "06"
    assert [c for d, c in outbox_statuses(ex) if d == document_id] == [
        "01", "03", "04", "05", "06"
    ]
    # the commune sees each status arrive
    while steps.send_due(ex.district).done:
        pass
    steps.receive_statuses(ex.commune)
    assert commune_sees(ex, document_id) == ["01", "03", "04", "05", "06"]
    # the register number is taken once; the audit log names who did each action
    with ex.district.db.read() as conn:
        entries = list(audit.entries(conn, ex.district.office_id))
        registered = conn.execute(select(incoming_register)).all()
    assert [(r.number, r.inbox_id, r.registered_by) for r in registered] == [
        (1, plan, s.people.clerk.id)
    ]
    actions = [(e.event, e.data["data"].get("staff") or e.data["data"].get("by"))
               for e in entries
               if e.event in ("clerk_action", "registered", "assigned")
               and e.data["data"].get("inbox_id") == plan]
    assert actions == [
        ("clerk_action", "Lò Thị Mai (vanthu)"),
        ("registered", "vanthu"),
        ("clerk_action", "Lò Thị Mai (vanthu)"),
        ("assigned", "vanthu"),
        ("clerk_action", "Vàng A Sính (chuyenvien)"),
        ("clerk_action", "Vàng A Sính (chuyenvien)"),
    ]


def test_a_refusal_needs_a_reason_and_is_sent(served: Served) -> None:
    s = served
    late = s.inbox_id("late")
    before = outbox_statuses(s.ex)
    with signed_in_client(s.base, "vanthu") as clerk:
        empty = _post(clerk, s.base, f"/incoming/{late}/reject", reason="   ")
        assert empty.status_code == 400
        assert "Nhập lý do từ chối" in empty.text
        assert outbox_statuses(s.ex) == before
        assert s.state("late") == "01"
        done = _post(clerk, s.base, f"/incoming/{late}/reject", reason="Gửi nhầm nơi nhận")
        assert done.status_code == 303
    assert s.state("late") == "02"
    with s.ex.district.db.read() as conn:
        [row] = conn.execute(
            select(inbox.c.id).where(inbox.c.clerk_state == "02")
        ).all()
    assert row.id == late
    assert outbox_statuses(s.ex)[-1] == (s.docs["late"].document_id, "02")


def test_wrong_state_changes_nothing(served: Served) -> None:
    s = served
    plan = s.inbox_id("plan")
    with signed_in_client(s.base, "vanthu") as clerk:
        early = _post(clerk, s.base, f"/incoming/{plan}/done")  # 01 -> 06 is not allowed
        assert early.status_code == 400
        assert "Không thể chuyển văn bản từ trạng thái 01 sang 06" in early.text
        assert _post(clerk, s.base, f"/incoming/{plan}/register").status_code == 303
        statuses = outbox_statuses(s.ex)
        again = _post(clerk, s.base, f"/incoming/{plan}/register")
        assert again.status_code == 400
        assert "đã được vào sổ" in again.text
        refuse = _post(clerk, s.base, f"/incoming/{plan}/reject", reason="muộn")
        assert refuse.status_code == 400
        assert outbox_statuses(s.ex) == statuses
        assert s.count(incoming_register) == 1
        assert s.state("plan") == "03"


def test_bad_assignees_and_deadlines_are_refused(served: Served) -> None:
    s = served
    ex = s.ex
    plan = s.inbox_id("plan")
    # an officer of another office served from the same database
    stranger = staff.add_user(
        ex.district.db, "000.00.02.H17", "chuyenvienkhac", "Lê Văn Khác", staff.Role.OFFICER,
        PASSWORD,
    )
    staff.disable_user(ex.district.db, "chuyenvien2")
    future = (today_in_vietnam(ex.district) + dt.timedelta(days=3)).isoformat()
    past = (today_in_vietnam(ex.district) - dt.timedelta(days=3)).isoformat()
    with signed_in_client(s.base, "vanthu") as clerk:
        assert _post(clerk, s.base, f"/incoming/{plan}/register").status_code == 303
        statuses = outbox_statuses(ex)
        for assignee, deadline, words in (
            (stranger.id, future, "không phải chuyên viên hoặc lãnh đạo"),
            (s.people.officer2.id, future, "không phải chuyên viên hoặc lãnh đạo"),
            (999999, future, "không phải chuyên viên hoặc lãnh đạo"),
            (s.people.admin.id, future, "không phải chuyên viên hoặc lãnh đạo"),
            (s.people.officer.id, past, "đã qua"),
            (s.people.officer.id, "", "Nhập hạn xử lý"),
        ):
            answer = _post(
                clerk, s.base, f"/incoming/{plan}/assign",
                assignee=str(assignee), deadline=deadline,
            )
            assert answer.status_code == 400, (assignee, deadline)
            assert words in answer.text
        assert outbox_statuses(ex) == statuses
        assert s.count(inbox_handling) == 0
        assert s.state("plan") == "03"
        # the form offers only active officers and leaders of this office
        form = clerk.get(f"/incoming/{plan}").text
        assert "Vàng A Sính" in form
        assert "Hoàng Thị Lan" not in form


def test_roles_and_offices(served: Served) -> None:
    s = served
    ex = s.ex
    plan = s.inbox_id("plan")
    # another office on the same database, with a document of its own
    other = steps.Office(
        identity=OfficeIdentity(organ_id="000.00.02.H17", organ_name="UBND huyện khác"),
        db=ex.district.db, client=None, signer=None, policy=None, worker="other",
        clock=ex.clock,
    )
    with other.db.transaction() as conn:
        foreign, _ = inbox_store.store_incoming_rejected(
            conn,
            inbox_store.RejectedRecord(
                b"<x/>", "test", inbox_store.DocumentFields(document_id="x,1", sender="a")
            ),
            office_id=other.office_id, axis_doc_id="foreign-1", state="02", now=ex.clock(),
        )
    with httpx.Client(base_url=s.base) as anonymous:
        assert anonymous.get("/incoming").status_code == 303
        assert anonymous.get(f"/incoming/{plan}/files/0").status_code == 303
        assert anonymous.post(f"/incoming/{plan}/register", data={}).status_code == 401
    with signed_in_client(s.base, "vanthu") as clerk:
        assert clerk.get(f"/incoming/{foreign.id}").status_code == 404
        assert clerk.get(f"/incoming/{foreign.id}/files/0").status_code == 404
        assert _post(clerk, s.base, f"/incoming/{foreign.id}/register").status_code == 404
        assert foreign.id not in _ids(clerk.get("/incoming?page=1").text)
        # a POST without the CSRF token is refused and changes nothing
        bare = clerk.post(f"/incoming/{plan}/register", data={}, headers={"origin": s.base})
        assert bare.status_code == 403
        assert s.state("plan") == "01"
    with signed_in_client(s.base, "chuyenvien") as officer:
        assert officer.get("/incoming").status_code == 200
        assert _ids(officer.get("/incoming").text) == []
        assert officer.get(f"/incoming/{plan}").status_code == 404  # not theirs
        assert _post(officer, s.base, f"/incoming/{plan}/register").status_code == 404
    with signed_in_client(s.base, "quantri") as admin:
        page = admin.get("/incoming")
        assert len(_ids(page.text)) == 5  # sees the list
        detail = admin.get(f"/incoming/{plan}")
        assert detail.status_code == 200
        assert "/register" not in detail.text  # read only
        assert _post(admin, s.base, f"/incoming/{plan}/register").status_code == 403
    with signed_in_client(s.base, "chutich") as leader:
        assert _post(leader, s.base, f"/incoming/{plan}/register").status_code == 303
    assert s.state("plan") == "03"
    # an officer may handle only what was assigned to them
    with signed_in_client(s.base, "vanthu") as clerk:
        deadline = (today_in_vietnam(ex.district) + dt.timedelta(days=2)).isoformat()
        assert _post(
            clerk, s.base, f"/incoming/{plan}/assign",
            assignee=str(s.people.officer.id), deadline=deadline,
        ).status_code == 303
    with signed_in_client(s.base, "chuyenvien") as officer:
        assert officer.get(f"/incoming/{plan}").status_code == 200
        assert _post(
            officer, s.base, f"/incoming/{plan}/assign",
            assignee=str(s.people.officer.id), deadline=deadline,
        ).status_code == 403
    assert s.state("plan") == "04"
