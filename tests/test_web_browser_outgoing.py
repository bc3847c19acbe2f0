"""In real Chromium: an officer writes a draft from an uploaded PDF with two attachments and
submits it, the leader approves it, the văn thư issues it; the commune sends it over the
local axis, the district receives it and accepts it (03), and the commune's sent list shows
that status. Screenshots of the form and of the sent list go to docs/screenshots.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from axis_fixtures import DISTRICT
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from test_outgoing import pdf_bytes, png_bytes, ready, xlsx_bytes
from web_fixtures import PASSWORD, browser, pages  # noqa: F401  (fixtures)

from edoc_exchange import office as steps
from edoc_exchange.office import outgoing

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def _sign_in(browser: Any, base: str, username: str) -> Any:  # noqa: F811
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_a_draft_from_an_uploaded_pdf_is_approved_issued_sent_and_its_status_shown(
    exchange: Exchange,  # noqa: F811
    pages: Callable[..., str],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    ex = exchange
    ready(ex)
    base = pages(ex.commune)
    main = tmp_path / "ke-hoach-ngay-hoi.pdf"
    main.write_bytes(pdf_bytes("Ke hoach to chuc Ngay hoi Dai doan ket", pages=2))
    annex = tmp_path / "phu-luc-kinh-phi.xlsx"
    annex.write_bytes(xlsx_bytes())
    scan = tmp_path / "ban-quet-danh-sach.png"
    scan.write_bytes(png_bytes())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The officer writes the draft, choosing the district through the search.
    officer = _sign_in(browser, base, "chuyenvien")
    officer.goto(f"{base}/drafts/new")
    officer.fill("input[name=q]", "bac ha")
    officer.click("form.filters button[type=submit]")
    officer.wait_for_load_state()
    officer.select_option("select[name=doc_type]", "ke-hoach")
    officer.fill("input[name=notation]", "KH-UBND")
    officer.select_option("select[name=priority]", "1")
    officer.fill("textarea[name=subject]", "Kế hoạch tổ chức Ngày hội Đại đoàn kết toàn dân tộc")
    officer.check(f"input[name=recipients][value='{DISTRICT}']")
    officer.fill("input[name=place]", "Nậm Khánh")
    officer.fill("input[name=signer_position]", "CHỦ TỊCH")
    officer.fill("input[name=signer_name]", "Nguyễn Văn Hùng")
    officer.set_input_files("input[name=main_file]", str(main))
    officer.set_input_files("input[name=attachments]", [str(annex), str(scan)])
    officer.screenshot(path=str(SCREENSHOTS / "draft-form.png"), full_page=True)
    officer.click("form.draft button[type=submit]")
    officer.wait_for_url(f"{base}/drafts/*")
    draft_url = officer.url
    body = officer.inner_text("main")
    assert "Đang soạn" in body
    for name in ("ke-hoach-ngay-hoi.pdf", "phu-luc-kinh-phi.xlsx", "ban-quet-danh-sach.png"):
        assert name in body
    officer.click("text=Trình duyệt")
    officer.wait_for_load_state()
    assert "Chờ duyệt" in officer.inner_text("main")
    officer.context.close()

    # The leader approves it.
    leader = _sign_in(browser, base, "chutich")
    leader.goto(draft_url)
    leader.click("form[action$='/approve'] button")
    leader.wait_for_load_state()
    assert "Đã duyệt" in leader.inner_text("main")
    leader.context.close()

    # The văn thư issues it: number, signature, queue.
    clerk = _sign_in(browser, base, "vanthu")
    clerk.goto(draft_url)
    clerk.click("form[action$='/issue'] button")
    clerk.wait_for_load_state()
    assert "Đã phát hành" in clerk.inner_text("main")
    draft_id = int(draft_url.rstrip("/").rsplit("/", 1)[-1])
    issued = outgoing.draft_details(ex.commune, draft_id)
    assert issued.document_id is not None
    assert issued.document_id.endswith(",1/KH-UBND")

    # Sent over the local axis; the district receives it and accepts it.
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    clerk.goto(f"{base}/outgoing")
    assert "Đã gửi" in clerk.inner_text("main")
    steps.mark(ex.district, issued.document_id, "03")
    steps.send_due(ex.district)
    steps.receive_statuses(ex.commune)
    clerk.goto(f"{base}/outgoing")
    listed = clerk.inner_text("main")
    assert "UBND huyện Bắc Hà: 03 Tiếp nhận" in listed
    clerk.screenshot(path=str(SCREENSHOTS / "outgoing-list.png"), full_page=True)
    clerk.click("text=Kế hoạch tổ chức Ngày hội Đại đoàn kết toàn dân tộc")
    clerk.wait_for_load_state()
    detail = clerk.inner_text("main")
    assert "03 Tiếp nhận" in detail
    assert "Lịch sử trạng thái" in detail
    clerk.context.close()

    # What the district received: the PDF first, then the two attachments, as uploaded.
    files = steps.received_files(ex.district.db, ex.district.office_id, issued.document_id)
    assert [(f.name, f.content_type) for f in files] == [
        ("ke-hoach-ngay-hoi.pdf", "application/pdf"),
        ("phu-luc-kinh-phi.xlsx",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("ban-quet-danh-sach.png", "image/png"),
    ]
    assert files[0].data == main.read_bytes()
