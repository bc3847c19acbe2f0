"""The e-governance page: the figures of ``edoc report egov`` for a quarter or a year, with
offices by name, a chart, and the report as downloads (HTML, CSV, spreadsheet).

For lãnh đạo (who report them), văn thư (who prepare the report) and quản trị. The period
comes from the query string (a GET form: the page can be bookmarked and shared); a period
that is not one is said on the page, in both languages, with the form to correct it. The
chart is an SVG image served by this module (``/egov/chart.svg``): the pages' CSP allows
images of our own, never an inline script.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import office as steps
from .. import reports
from ..errors import EdocError
from ..office import staff
from ..vntime import VN_TZ
from . import _i18n
from ._app import call, context, form_of, language, page, render

__all__ = ["EgovView", "chosen_period", "routes"]

_i18n.add({
    "egov.title": ("Chỉ số chính quyền số", "E-government figures"),
    "egov.period": ("Kỳ báo cáo", "Period"),
    "egov.year": ("Năm", "Year"),
    "egov.quarter": ("Quý", "Quarter"),
    "egov.whole_year": ("Cả năm", "Whole year"),
    "egov.show": ("Xem", "Show"),
    "egov.office": ("Cơ quan", "Office"),
    "egov.chart": (
        "Văn bản điện tử gửi và nhận theo tháng", "Documents sent and received by month"
    ),
    "egov.sent": ("Gửi", "Sent"),
    "egov.received": ("Nhận", "Received"),
    "egov.month": ("Tháng", "Month"),
    "egov.summary": ("Tổng hợp", "Summary"),
    "egov.past_due": ("Văn bản quá hạn xử lý", "Documents past their due date"),
    "egov.rejections": ("Văn bản bị từ chối", "Refused documents"),
    "egov.send_failures": ("Văn bản gửi không thành công", "Documents that could not be sent"),
    "egov.from": ("Nơi gửi", "From"),
    "egov.subject": ("Trích yếu", "Subject"),
    "egov.due": ("Hạn", "Due"),
    "egov.state": ("Trạng thái", "State"),
    "egov.reason": ("Lý do", "Reason"),
    "egov.error": ("Lỗi", "Error"),
    "egov.downloads": ("Tải báo cáo", "Download the report"),
    "egov.download_html": ("Báo cáo (HTML, để in)", "Report (HTML, to print)"),
    "egov.download_csv": ("Số liệu (CSV)", "Figures (CSV)"),
    "egov.download_xlsx": ("Bảng tính (Excel .xlsx)", "Spreadsheet (Excel .xlsx)"),
    "egov.download_pdf": (
        "Báo cáo theo Nghị định 30 (PDF, bản xem trước chưa số, chưa ký)",
        "Báo cáo in the decree's layout (PDF preview, not numbered or signed)",
    ),
    "egov.download_yaml": (
        "Báo cáo để sửa và ban hành (YAML)", "Báo cáo to edit and issue (YAML)"
    ),
    "egov.paper": ("Số văn bản giấy trong quý", "Documents on paper in the quarter"),
    "egov.paper_help": (
        "Văn bản gửi, nhận bằng giấy (không qua trục) của quý: để tính tỷ lệ văn bản điện tử.",
        "Documents sent and received on paper (not over the axis) in the quarter: for the "
        "share handled electronically.",
    ),
    "egov.paper_received": ("Văn bản đến bằng giấy", "Received on paper"),
    "egov.paper_sent": ("Văn bản đi bằng giấy", "Sent on paper"),
    "egov.paper_save": ("Lưu số văn bản giấy", "Save the paper counts"),
    "egov.paper_saved": ("Đã lưu số văn bản giấy.", "The paper counts are saved."),
    "egov.paper_quarter_only": (
        "Chọn một quý để nhập số văn bản giấy.", "Choose a quarter to enter paper counts."
    ),
})

#: The years a period may be in (a typo such as 20256 is refused, not computed).
_YEARS = range(2000, 2101)
_FORMATS = {
    "html": ("text/html; charset=utf-8", "html"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": (reports.XLSX_TYPE, "xlsx"),
    "pdf": ("application/pdf", "pdf"),
    "yaml": ("application/yaml; charset=utf-8", "yaml"),
}


class PeriodChoiceError(EdocError):
    """The period chosen in the form is not a quarter or a year we can report on."""


@dataclass(frozen=True)
class EgovView:
    """What the page shows: the report, its period and the names to show for codes."""

    report: reports.EgovReport
    period: reports.Period
    names: dict[str, str]
    year: int
    quarter: int | None

    @property
    def query(self) -> str:
        """The period as a query string (the chart's and the downloads' links)."""
        return f"period={self.period.label}"

    def name(self, code: Any) -> str:
        text = "" if code is None else str(code)
        return self.names.get(text, text)

    @property
    def summary(self) -> list[tuple[str, str, Any, str]]:
        """(Vietnamese label, English label, value, value as shown) of each figure."""
        data = self.report.to_json()
        rows: list[tuple[str, str, Any, str]] = []
        for key, vi, en in reports.SUMMARY_ROWS:
            value = data[key]
            if value is None:
                shown = reports.why_missing(self.report, key) or "—"
            elif key.startswith("share_"):
                shown = f"{value * 100:.1f}%"
            else:
                shown = str(value)
            rows.append((vi, en, value, shown))
        return rows

    @property
    def months(self) -> list[tuple[str, int, int]]:
        return [
            (m, self.report.sent_by_month.get(m, 0), self.report.received_by_month.get(m, 0))
            for m in self.report.sent_by_month
        ]


def _current_quarter(today: dt.date) -> tuple[int, int]:
    return today.year, (today.month - 1) // 3 + 1


def chosen_period(params: dict[str, str], today: dt.date) -> tuple[reports.Period, int, int | None]:
    """The period the form asks for: ``period`` (2026-Q3 or 2026), else ``year`` and
    ``quarter`` (empty: the whole year), else the current quarter. PeriodChoiceError (or
    the report's own ReportError) for anything else."""
    text = unicodedata.normalize("NFC", params.get("period", "")).strip()
    if not text and ("year" in params or "quarter" in params):
        year = params.get("year", "").strip()
        quarter = params.get("quarter", "").strip()
        if not re.fullmatch(r"\d{4}", year):
            raise PeriodChoiceError(
                f"Năm '{year[:20]}' không hợp lệ: nhập 4 chữ số, ví dụ {today.year}",
                f"the year '{year[:20]}' is not valid: enter 4 digits, e.g. {today.year}",
                step="period.year",
            )
        if quarter and quarter not in ("1", "2", "3", "4"):
            raise PeriodChoiceError(
                f"Quý '{quarter[:20]}' không hợp lệ: chọn 1, 2, 3, 4 hoặc cả năm",
                f"the quarter '{quarter[:20]}' is not valid: choose 1, 2, 3, 4 or the whole year",
                step="period.quarter",
            )
        text = f"{year}-Q{quarter}" if quarter else year
    if not text:
        year_now, quarter_now = _current_quarter(today)
        text = f"{year_now}-Q{quarter_now}"
    if not re.fullmatch(r"\d{4}(-Q[1-4])?", text.upper()):
        raise PeriodChoiceError(
            f"Kỳ báo cáo '{text[:20]}' không hợp lệ: chọn một quý hoặc một năm (ví dụ "
            f"{today.year}-Q1 hoặc {today.year})",
            f"the period '{text[:20]}' is not valid: choose a quarter or a year (e.g. "
            f"{today.year}-Q1 or {today.year})",
            step="period",
        )
    period = reports.Period.parse(text)
    if period.start.year not in _YEARS:
        raise PeriodChoiceError(
            f"Năm {period.start.year} nằm ngoài khoảng {_YEARS.start}–{_YEARS.stop - 1}",
            f"the year {period.start.year} is outside {_YEARS.start}–{_YEARS.stop - 1}",
            step="period.year",
        )
    quarter_of = int(text[-1]) if "-Q" in text.upper() else None
    return period, period.start.year, quarter_of


def _today() -> dt.date:
    return dt.datetime.now(VN_TZ).date()


def _view(office: steps.Office, period: reports.Period, year: int, quarter: int | None) -> EgovView:
    report = reports.egov_report(office.db, office.office_id, period)
    names = reports.organisation_names(office.db)
    names[office.office_id] = office.identity.organ_name
    return EgovView(report, period, names, year, quarter)


def _bao_cao(office: steps.Office, period: reports.Period) -> reports.Built:
    """The báo cáo of ``period`` with the previous period beside it; unnumbered (a preview:
    the number is taken when the clerk issues it from the YAML)."""
    today = _today()
    facts = reports.default_facts(
        office.db, office.office_id, office.identity.organ_name, date=today,
        signer_name=office.identity.staff or office.identity.organ_name,
    )
    return reports.build(office.db, period, facts, today=today)


def _count(text: str | None, field: str) -> int | None:
    """A paper count from the form: empty is "leave it", digits (a sign allowed) a number."""
    value = unicodedata.normalize("NFC", text or "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[+-]?\d{1,9}", value):
        raise steps.PaperCountError(
            f"Số văn bản giấy '{value[:20]}' không phải số nguyên",
            f"the paper count '{value[:20]}' is not a whole number",
            step=f"paper.{field}",
        )
    return int(value)


@page(staff.Role.CLERK, staff.Role.ADMIN)
async def egov_paper(request: Request) -> Response:
    """Văn thư or quản trị enter the quarter's paper counts (an audit event)."""
    form = await form_of(request)
    year = str(form.get("year", "")).strip()
    quarter = str(form.get("quarter", "")).strip()
    office = context(request).office
    user = request.state.visitor.user
    try:
        received = _count(str(form.get("received", "")), "received")
        sent = _count(str(form.get("sent", "")), "sent")
        await call(steps.enter_paper_count, office, f"{year}-Q{quarter}", received=received,
                   sent=sent, actor=user.username)
    except EdocError as exc:
        lang = language(request)
        period, year_of, quarter_of = _current_period()
        view = await call(_view, office, period, year_of, quarter_of)
        return render(
            request, "egov.html", status_code=400, view=view,
            message=_i18n.both(exc.vi, exc.en, lang), step=exc.step,
            year=year_of, quarter=quarter_of, saved=False, **_form_values(),
        )
    return RedirectResponse(f"/egov?period={year}-Q{quarter}&saved=paper", 303)


def _current_period() -> tuple[reports.Period, int, int | None]:
    return chosen_period({}, _today())


def _form_values() -> dict[str, Any]:
    today = _today()
    return {
        "years": list(range(today.year, today.year - 6, -1)),
        "this_year": today.year,
    }


@page(staff.Role.LEADER, staff.Role.CLERK, staff.Role.ADMIN)
async def egov_page(request: Request) -> Response:
    params = dict(request.query_params)
    try:
        period, year, quarter = chosen_period(params, _today())
    except EdocError as exc:
        lang = language(request)
        year_now, _ = _current_quarter(_today())
        return render(
            request, "egov.html", status_code=400, view=None,
            message=_i18n.both(exc.vi, exc.en, lang), step=exc.step,
            year=year_now, quarter=None, saved=False, **_form_values(),
        )
    view = await call(_view, context(request).office, period, year, quarter)
    return render(
        request, "egov.html", view=view, message=None, step=None, year=year, quarter=quarter,
        saved=params.get("saved") == "paper", **_form_values(),
    )


@page(staff.Role.LEADER, staff.Role.CLERK, staff.Role.ADMIN)
async def egov_chart(request: Request) -> Response:
    period, year, quarter = chosen_period(dict(request.query_params), _today())
    view = await call(_view, context(request).office, period, year, quarter)
    return Response(
        reports.chart_svg(view.report),
        media_type="image/svg+xml",
        headers={"cache-control": "private, max-age=60"},
    )


def _filename(office_id: str, period: str, ext: str) -> str:
    """``bao-cao-cqs-<office>-<period>.<ext>``: letters, digits, dot and dash only."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", f"bao-cao-cqs-{office_id}-{period}.{ext}")


@page(staff.Role.LEADER, staff.Role.CLERK, staff.Role.ADMIN)
async def egov_export(request: Request) -> Response:
    fmt = request.query_params.get("format", "")
    if fmt not in _FORMATS:
        raise PeriodChoiceError(
            "Định dạng tải về không hỗ trợ; chọn html, csv, xlsx, pdf hoặc yaml",
            "this download format is not supported; choose html, csv, xlsx, pdf or yaml",
            step="format",
        )
    period, year, quarter = chosen_period(dict(request.query_params), _today())
    office = context(request).office
    body: bytes | str
    if fmt in ("pdf", "yaml", "xlsx"):
        built = await call(_bao_cao, office, period)
        if fmt == "xlsx":
            body = await call(
                reports.xlsx, built.report, names=built.names, previous=built.previous,
                period_words=(period.words, period.previous().words),
            )
        elif fmt == "yaml":
            body = reports.to_yaml(built.content)
        else:
            rendered = await call(steps.render_report_yaml, office,
                                  reports.to_yaml(built.content))
            body = rendered.pdf
    else:
        view = await call(_view, office, period, year, quarter)
        body = reports.render(view.report, fmt, names=view.names)
    media_type, ext = _FORMATS[fmt]
    name = _filename(office.office_id, period.label, ext)
    return Response(
        body,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


routes: list[BaseRoute] = [
    Route("/egov", egov_page, methods=["GET"]),
    Route("/egov/chart.svg", egov_chart, methods=["GET"]),
    Route("/egov/export", egov_export, methods=["GET"]),
    Route("/egov/paper", egov_paper, methods=["POST"]),
]
