"""The e-governance page over real HTTP: the figures of ``edoc report egov`` for a chosen
period with names instead of codes, the chart, the downloads (HTML, CSV, an .xlsx that
opens with openpyxl and holds the page's figures), bad periods said on the page, roles.
The browser test saves the screenshots of this page and of the audit page.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from axis_fixtures import COMMUNE_A, NAMES
from daemon_fixtures import Exchange, exchange  # noqa: F401  (fixture)
from web_fixtures import (
    PASSWORD,
    add_staff,
    browser,  # noqa: F401  (fixture)
    pages,  # noqa: F401  (fixture)
    signed_in_client,
)

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.vntime import VN_TZ

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SAFE_NAME = re.compile(r'attachment; filename="[A-Za-z0-9.-]+"')


def _quarter(today: dt.date) -> str:
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def _exchange_two(ex: Exchange) -> list[str]:
    """Two documents from the commune reach the district: one of them already past its due
    date. The district's directory is refreshed (names instead of codes)."""
    late = ex.plan("21").model_copy(
        update={
            "due_date": dt.date.today() - dt.timedelta(days=3),
            "subject": "Báo cáo quá hạn <b>khẩn</b>",
        }
    )
    docs = [ex.plan("20"), late]
    for doc in docs:
        steps.queue_message(ex.commune, edxml.write(doc), composed=True)
    assert steps.send_due(ex.commune).done == 2
    assert steps.receive_documents(ex.district).done == 2
    steps.refresh_directory(ex.district)
    return [d.document_id or "" for d in docs]


@pytest.fixture
def served(exchange: Exchange, pages: Callable[..., str]) -> tuple[str, Exchange, list[str]]:  # noqa: F811
    docs = _exchange_two(exchange)
    add_staff(exchange.district)
    return pages(exchange.district), exchange, docs


def _summary(page: str) -> dict[str, str]:
    """The summary table of the page: label -> data-value."""
    table = page.split('id="egov-summary"', 1)[1].split("</table>", 1)[0]
    return {
        html.unescape(label): html.unescape(value)
        for label, value in re.findall(r'<th>([^<]*)</th><td data-value="([^"]*)"', table)
    }


def test_the_page_shows_the_figures_by_name_with_a_chart(
    served: tuple[str, Exchange, list[str]],
) -> None:
    base, ex, docs = served
    period = _quarter(dt.datetime.now(VN_TZ).date())
    with signed_in_client(base, "chutich") as client:
        answer = client.get("/egov")
        assert answer.status_code == 200, answer.text
        page = answer.text
        assert f'id="egov-period">{period}<' in page  # the current quarter by default
        # names instead of codes: the office, and the sender of the late document
        assert NAMES[ex.district.office_id] in page
        late = page.split("past their due date", 1)[-1] if "past" in page else page
        assert docs[1] in page
        assert NAMES[COMMUNE_A] in late
        # the subject is text, not markup
        assert "<b>khẩn</b>" not in page
        assert "&lt;b&gt;khẩn&lt;/b&gt;" in page
        summary = _summary(page)
        assert summary["Văn bản đã nhận"] == "2"
        assert f'src="/egov/chart.svg?period={period}"' in page
        assert "<script>" not in page.split("</head>", 1)[1]
        assert len(answer.content) < 50_000

        chart = client.get(f"/egov/chart.svg?period={period}")
        assert chart.status_code == 200
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert chart.text.startswith("<svg")
        assert "<rect" in chart.text

        # the same figures for the whole year, chosen in the form
        year = client.get("/egov", params={"year": period[:4], "quarter": ""})
        assert year.status_code == 200
        assert f'id="egov-period">{period[:4]}<' in year.text
        assert _summary(year.text)["Văn bản đã nhận"] == "2"
        english = client.get("/lang?to=en", headers={"referer": f"{base}/egov"})
        assert english.status_code == 303
        assert "Documents received" in client.get("/egov").text


def test_downloads_have_the_right_type_a_safe_name_and_the_page_figures(
    served: tuple[str, Exchange, list[str]],
) -> None:
    base, _ex, docs = served
    period = _quarter(dt.datetime.now(VN_TZ).date())
    with signed_in_client(base, "vanthu") as client:
        page = client.get("/egov", params={"period": period}).text
        shown = _summary(page)

        report = client.get("/egov/export", params={"period": period, "format": "html"})
        assert report.status_code == 200
        assert report.headers["content-type"].startswith("text/html")
        assert SAFE_NAME.fullmatch(report.headers["content-disposition"])
        assert "<svg" in report.text
        assert NAMES[COMMUNE_A] in report.text  # names in the official report too

        figures = client.get("/egov/export", params={"period": period, "format": "csv"})
        assert figures.headers["content-type"].startswith("text/csv")
        assert SAFE_NAME.fullmatch(figures.headers["content-disposition"])
        rows = list(csv.reader(io.StringIO(figures.text)))
        assert rows[0] == ["section", "key", "value", "name"]
        due = (dt.date.today() - dt.timedelta(days=3)).isoformat()
        assert ["past_due", docs[1], due, NAMES[COMMUNE_A]] in rows
        assert ["summary", "received_total", "2", ""] in rows

        sheet = client.get("/egov/export", params={"period": period, "format": "xlsx"})
        assert sheet.status_code == 200
        assert sheet.headers["content-type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        disposition = sheet.headers["content-disposition"]
        assert SAFE_NAME.fullmatch(disposition)
        assert disposition.endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(sheet.content))
    assert book.sheetnames == [
        "Tong hop", "Theo thang", "Qua han", "Tu choi", "Theo loai", "So sanh"
    ]
    summary = book["Tong hop"]
    in_sheet: dict[str, Any] = {
        str(row[0]): row[2] for row in summary.iter_rows(min_row=5, values_only=True)
    }
    assert set(in_sheet) == set(shown)
    for label, value in shown.items():
        if in_sheet[label] is None:
            assert value == "", label
        else:
            assert float(value) == pytest.approx(float(in_sheet[label])), label
    assert in_sheet["Văn bản đã nhận"] == 2
    late = list(book["Qua han"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[2]) for r in late] == [(docs[1], NAMES[COMMUNE_A], COMMUNE_A)]
    months = list(book["Theo thang"].iter_rows(min_row=2, values_only=True))
    assert sum(r[2] for r in months if isinstance(r[2], int)) == 2


BAD_PERIODS: list[tuple[dict[str, str], str]] = [
    ({"period": "2026-Q5"}, "không hợp lệ"),
    ({"period": "2026-07"}, "chọn một quý hoặc một năm"),
    ({"period": "1999"}, "nằm ngoài khoảng"),
    ({"year": "20x6", "quarter": "1"}, "Năm '20x6' không hợp lệ"),
    ({"year": "2026", "quarter": "7"}, "Quý '7' không hợp lệ"),
    ({"period": "<script>alert(1)</script>"}, "không hợp lệ"),
]


def test_a_bad_period_is_said_on_the_page(served: tuple[str, Exchange, list[str]]) -> None:
    base, _ex, _docs = served
    with signed_in_client(base, "chutich") as client:
        for query, said in BAD_PERIODS:
            answer = client.get("/egov", params=query)
            assert answer.status_code == 400, query
            assert said in html.unescape(answer.text), query
            assert 'role="alert"' in answer.text
            assert "<script>alert" not in answer.text
            assert 'name="year"' in answer.text  # the form is there to correct it
            assert client.get("/egov/chart.svg", params=query).status_code == 400
            exported = client.get("/egov/export", params={**query, "format": "csv"})
            assert exported.status_code == 400
            assert "attachment" not in exported.headers.get("content-disposition", "")


def test_an_unknown_download_format_is_refused(
    served: tuple[str, Exchange, list[str]],
) -> None:
    base, _ex, _docs = served
    with signed_in_client(base, "chutich") as client:
        answer = client.get("/egov/export", params={"period": "2026", "format": "docx"})
        assert answer.status_code == 400
        assert "html, csv, xlsx, pdf hoặc yaml" in answer.text


PATHS = ["/egov", "/egov/chart.svg", "/egov/export?format=csv"]


def test_roles(served: tuple[str, Exchange, list[str]]) -> None:
    """Anonymous: to the sign-in form; chuyên viên: refused; the others: served."""
    base, _ex, _docs = served
    for path in PATHS:
        anonymous = httpx.get(base + path, follow_redirects=False, timeout=30)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/login?next=")
    with signed_in_client(base, "chuyenvien") as officer:
        for path in PATHS:
            assert officer.get(path).status_code == 403
    for allowed in ("chutich", "vanthu", "quantri"):
        with signed_in_client(base, allowed) as client:
            for path in PATHS:
                assert client.get(path).status_code == 200, (allowed, path)


def test_screenshots_of_the_egov_and_audit_pages(
    served: tuple[str, Exchange, list[str]], browser: Any  # noqa: F811
) -> None:
    base, _ex, _docs = served
    steps.checkpoint_now(_ex.district)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
    try:
        tab = context.new_page()
        tab.goto(f"{base}/login?next=/egov")
        tab.fill("input[name=username]", "chutich")
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{base}/egov")
        tab.wait_for_function("document.getElementById('egov-chart').complete")
        width = tab.evaluate("document.getElementById('egov-chart').naturalWidth")
        assert width > 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / "egov.png"), full_page=True)
        tab.goto(f"{base}/audit")
        assert "Nhật ký nguyên vẹn" in tab.inner_text("#log-status")
        tab.screenshot(path=str(SCREENSHOTS / "audit.png"), full_page=False)
    finally:
        context.close()
    assert (SCREENSHOTS / "egov.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "audit.png").stat().st_size > 10_000
