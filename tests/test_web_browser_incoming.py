"""The clerk's day in real Chromium: a document that came through the local axis is listed,
opened (its PDF shown in the page), an attachment downloaded, registered (03) and assigned
(04) to an officer, who marks it done (06); the commune sees each status arrive.

Screenshots of the list and the detail go to docs/screenshots/ for the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from incoming_fixtures import SPREADSHEET, commune_sees, real_pdf, send_document
from web_fixtures import (
    PASSWORD,
    add_staff,
    browser,  # noqa: F401  (fixture)
    pages,  # noqa: F401  (fixture)
)

from edoc_exchange import office as steps
from edoc_exchange.office.incoming import today_in_vietnam

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def context(browser: Any, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    ctx = browser.new_context(
        viewport={"width": 1366, "height": 768}, accept_downloads=True, locale="vi-VN"
    )
    yield ctx
    ctx.close()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/incoming")


def test_clerk_registers_assigns_and_the_officer_finishes(
    exchange: Exchange,  # noqa: F811
    pages: Any,  # noqa: F811
    context: Any,
    tmp_path: Path,
) -> None:
    ex = exchange
    people = add_staff(ex.district)
    send_document(ex, "11", subject="Báo cáo kết quả thực hiện nhiệm vụ tháng 3")
    doc = send_document(ex, "12")
    base = pages(ex.district)

    page = context.new_page()
    _sign_in(page, base, "vanthu")
    row = page.locator("table.list tbody tr", has_text="Kế hoạch tổ chức Ngày hội Đại đoàn kết")
    assert row.count() == 1
    assert "unread" in (row.get_attribute("class") or "")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "incoming-list.png"), full_page=True)

    # open it: the PDF frame answers with the PDF itself
    with page.expect_response(lambda r: "/files/0?inline=1" in r.url) as framed:
        row.locator("a").first.click()
    response = framed.value
    assert response.status == 200
    assert response.header_value("content-type") == "application/pdf"
    page.wait_for_selector("iframe.pdf")
    # Chromium's viewer takes the PDF's body over; the frame's address gives the bytes
    src = page.get_attribute("iframe.pdf", "src")
    again = page.request.get(f"{base}{src}")
    assert again.status == 200
    assert again.body() == real_pdf()
    assert page.locator("text=Hợp lệ").count() >= 1

    # download the spreadsheet: the same bytes the commune attached
    with page.expect_download() as got:
        page.locator("ul.files a", has_text="phụ lục số liệu.xlsx").click()
    download = got.value
    saved = tmp_path / "downloaded.xlsx"
    download.save_as(saved)
    assert saved.read_bytes() == SPREADSHEET
    assert download.suggested_filename == "phụ lục số liệu.xlsx"

    # vào sổ (03), then phân công (04)
    page.click("form[action$='/register'] button")
    page.wait_for_selector("p.notice")
    assert "Đã vào sổ văn bản đến" in page.inner_text("p.notice")
    deadline = today_in_vietnam(ex.district).replace(day=28).isoformat()
    if deadline < today_in_vietnam(ex.district).isoformat():
        deadline = today_in_vietnam(ex.district).isoformat()
    page.select_option("select[name=assignee]", str(people.officer.id))
    page.fill("input[name=deadline]", deadline)
    page.click("form[action$='/assign'] button")
    page.wait_for_selector("p.notice")
    assert "Vàng A Sính" in page.inner_text("dl.fields")
    page.screenshot(path=str(SCREENSHOTS / "incoming-detail.png"), full_page=True)
    page.click("form[action='/logout'] button")

    # the officer finishes it
    officer = context.new_page()
    _sign_in(officer, base, "chuyenvien")
    officer.locator("table.list a", has_text="Kế hoạch tổ chức").click()
    officer.click("form[action$='/done'] button")
    officer.wait_for_selector("p.notice")
    assert "06" in officer.inner_text("dl.fields")

    # the district sends its statuses; the commune sees each one arrive
    while steps.send_due(ex.district).done:
        pass
    steps.receive_statuses(ex.commune)
    assert commune_sees(ex, doc.document_id or "") == ["01", "03", "04", "06"]
