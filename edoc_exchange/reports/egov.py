"""The e-governance figures a commune reports (PAPI dimension 8), from the store and the log.

For a period (``2026-Q3``, ``2026-07`` or ``2026``): documents sent and received
electronically by month, the share acknowledged, the median time from arrival to acceptance
(status 03), the share whose PDFs all carry a valid signature (the receiver's check,
``pdf_verdicts``), documents past their due date, and rejections with their reasons. Sending and
acknowledging are counted from the audit log (what happened, when), the rest from the store.
The HTML form carries an inline SVG chart (no script, no network: it prints and archives).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..audit import entries
from ..edxml import StatusCode
from ..errors import EdocError
from ..store import Database, InboxVerdict
from ..store import directory as directory_store
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ..store import pdfchecks as pdf_store
from ..vntime import VN_TZ, as_utc

__all__ = [
    "EgovReport",
    "Period",
    "ReportError",
    "chart_svg",
    "egov_report",
    "organisation_names",
    "render",
]


class ReportError(EdocError):
    """The report cannot be made as asked (a malformed period, an unknown format)."""


@dataclass(frozen=True)
class Period:
    """A calendar period, in Vietnam time: [start, end)."""

    label: str
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026-Q3``, ``2026-07`` or ``2026``; ReportError otherwise."""
        vn = VN_TZ
        text = text.strip().upper()
        if m := re.fullmatch(r"(\d{4})-Q([1-4])", text):
            year, quarter = int(m.group(1)), int(m.group(2))
            start = dt.datetime(year, 3 * quarter - 2, 1, tzinfo=vn)
            end_month = 3 * quarter + 1
            end = (
                dt.datetime(year + 1, 1, 1, tzinfo=vn)
                if end_month > 12
                else dt.datetime(year, end_month, 1, tzinfo=vn)
            )
        elif m := re.fullmatch(r"(\d{4})-(\d{2})", text):
            year, month = int(m.group(1)), int(m.group(2))
            if not 1 <= month <= 12:
                raise ReportError(
                    f"Tháng {month} không hợp lệ", f"month {month} is not valid", step="period"
                )
            start = dt.datetime(year, month, 1, tzinfo=vn)
            end = (
                dt.datetime(year + 1, 1, 1, tzinfo=vn)
                if month == 12
                else dt.datetime(year, month + 1, 1, tzinfo=vn)
            )
        elif m := re.fullmatch(r"(\d{4})", text):
            year = int(m.group(1))
            start = dt.datetime(year, 1, 1, tzinfo=vn)
            end = dt.datetime(year + 1, 1, 1, tzinfo=vn)
        else:
            raise ReportError(
                f"Kỳ báo cáo '{text}' không hợp lệ; dùng 2026-Q3, 2026-07 hoặc 2026",
                f"period '{text}' is not valid; use 2026-Q3, 2026-07 or 2026",
                step="period",
            )
        return cls(text, start, end)

    def months(self) -> list[str]:
        out: list[str] = []
        cursor = self.start
        while cursor < self.end:
            out.append(f"{cursor.year:04d}-{cursor.month:02d}")
            cursor = (
                cursor.replace(year=cursor.year + 1, month=1)
                if cursor.month == 12
                else cursor.replace(month=cursor.month + 1)
            )
        return out

    def contains(self, when: dt.datetime) -> bool:
        return self.start <= as_utc(when) < self.end


def _month(value: dt.datetime) -> str:
    local = as_utc(value).astimezone(VN_TZ)
    return f"{local.year:04d}-{local.month:02d}"


@dataclass
class EgovReport:
    """The figures; ``to_json`` is the stable form (csv and html are drawn from it)."""

    office_id: str
    period: str
    sent_by_month: dict[str, int] = field(default_factory=dict)
    received_by_month: dict[str, int] = field(default_factory=dict)
    received_total: int = 0
    received_acknowledged: int = 0
    #: Received documents whose PDF attachments all carry a valid signature (at least one).
    received_pdf_valid: int = 0
    sent_total: int = 0
    sent_answered: int = 0
    median_hours_to_acceptance: float | None = None
    accepted: int = 0
    past_due: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    send_failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def share_acknowledged(self) -> float | None:
        if not self.received_total:
            return None
        return self.received_acknowledged / self.received_total

    @property
    def share_pdf_valid(self) -> float | None:
        """The share of received documents with a valid signature on the document itself."""
        if not self.received_total:
            return None
        return self.received_pdf_valid / self.received_total

    def to_json(self) -> dict[str, Any]:
        share = self.share_acknowledged
        return {
            "office_id": self.office_id,
            "period": self.period,
            "sent_by_month": self.sent_by_month,
            "received_by_month": self.received_by_month,
            "sent_total": self.sent_total,
            "sent_answered_by_all_recipients": self.sent_answered,
            "received_total": self.received_total,
            "received_acknowledged": self.received_acknowledged,
            "share_acknowledged": round(share, 4) if share is not None else None,
            "received_pdf_valid": self.received_pdf_valid,
            "share_pdf_valid": (
                round(self.share_pdf_valid, 4) if self.share_pdf_valid is not None else None
            ),
            "accepted": self.accepted,
            "median_hours_to_acceptance": (
                round(self.median_hours_to_acceptance, 2)
                if self.median_hours_to_acceptance is not None
                else None
            ),
            "past_due": self.past_due,
            "rejections": self.rejections,
            "send_failures": self.send_failures,
        }


def egov_report(
    db: Database, office_id: str, period: Period, *, today: dt.date | None = None
) -> EgovReport:
    """Compute the figures of ``period`` for ``office_id``."""
    report = EgovReport(office_id=office_id, period=period.label)
    months = period.months()
    report.sent_by_month = dict.fromkeys(months, 0)
    report.received_by_month = dict.fromkeys(months, 0)
    acked: set[str] = set()
    sent_docs: set[str] = set()
    with db.engine.connect() as conn:
        for entry in entries(conn, office_id):
            data = entry.data
            when = entry.time
            if not period.contains(when):
                continue
            body = data.get("data", {})
            if entry.event == "sent":
                report.sent_by_month[_month(when)] = report.sent_by_month.get(_month(when), 0) + 1
                sent_docs.add(str(body.get("document_id")))
            elif entry.event == "acknowledged" and body.get("status") == "done":
                acked.add(str(body.get("axis_doc_id")))
            elif entry.event == "send_failed" and body.get("permanent"):
                report.send_failures.append(
                    {
                        "document_id": body.get("document_id"),
                        "error": body.get("error"),
                        "time": data["time"],
                    }
                )
        report.sent_total = sum(report.sent_by_month.values())
        rows = inbox_store.received_between(conn, office_id, period.start, period.end)
        pdf_valid = pdf_store.valid_between(conn, office_id, period.start, period.end)
        waits: list[float] = []
        end_day = today or min(period.end.date(), dt.date.today())
        for row in rows:
            if not period.contains(row.received_at):
                continue
            month = _month(row.received_at)
            if row.verdict == InboxVerdict.REJECTED:
                report.rejections.append(
                    {
                        "document_id": row.document_id,
                        "from": row.sender,
                        "reason": row.reason,
                        "received_at": as_utc(row.received_at).isoformat(),
                    }
                )
                continue
            report.received_total += 1
            report.received_by_month[month] = report.received_by_month.get(month, 0) + 1
            if row.axis_doc_id in acked:
                report.received_acknowledged += 1
            if row.id in pdf_valid:
                report.received_pdf_valid += 1
            if row.accepted_at is not None:
                report.accepted += 1
                waits.append(
                    (as_utc(row.accepted_at) - as_utc(row.received_at)).total_seconds() / 3600
                )
            if (
                row.due_date
                and row.clerk_state != StatusCode.DONE
                and dt.date.fromisoformat(row.due_date) < end_day
            ):
                report.past_due.append(
                    {
                        "document_id": row.document_id,
                        "from": row.sender,
                        "subject": row.subject,
                        "due_date": row.due_date,
                        "state": row.clerk_state,
                        "state_name": _state_name(row.clerk_state),
                    }
                )
        if waits:
            report.median_hours_to_acceptance = statistics.median(waits)
        answered = outbox_store.finished_document_ids(conn, office_id)
        report.sent_answered = len(sent_docs & answered)
    return report


def organisation_names(db: Database) -> dict[str, str]:
    """OrganId -> name of every organisation in the directory cache (for the reports and
    pages that show names instead of codes; an organisation not cached keeps its code)."""
    with db.engine.connect() as conn:
        return directory_store.names(conn)


def _named(code: object, names: Mapping[str, str] | None) -> str:
    text = "" if code is None else str(code)
    if not names or text not in names:
        return text
    return f"{names[text]} ({text})"


def render(report: EgovReport, fmt: str, *, names: Mapping[str, str] | None = None) -> str:
    """The report as ``json``, ``csv`` or ``html``.

    ``names`` (OrganId -> name): the html shows offices by name beside their code, and the
    csv gains a fourth column with the name of the organisation a row is about; without
    it both are as they always were (json keeps codes: it is the stable form).
    """
    if fmt == "json":
        return json.dumps(report.to_json(), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return _csv(report, names)
    if fmt == "html":
        return _html(report, names)
    raise ReportError(
        f"Định dạng '{fmt}' không hỗ trợ; dùng html, csv hoặc json",
        f"format '{fmt}' is not supported; use html, csv or json",
        step="format",
    )


_ACCEPTED = StatusCode.ACCEPTED


def _state_name(code: str) -> str:
    """``03 Tiếp nhận``: a clerk state as the reports print it."""
    known = StatusCode.known(code)
    return f"{code} {known.vi}" if known is not None else code


def _csv(report: EgovReport, names: Mapping[str, str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)

    def row(values: list[Any], about: object = None) -> None:
        # With names, a fourth column: the name of the organisation the row is about.
        if names is None:
            writer.writerow(values)
        else:
            writer.writerow([*values, names.get(str(about), "") if about else ""])

    writer.writerow(["section", "key", "value"] + ([] if names is None else ["name"]))
    for month, count in report.sent_by_month.items():
        row(["sent_by_month", month, count])
    for month, count in report.received_by_month.items():
        row(["received_by_month", month, count])
    data = report.to_json()
    for key in (
        "sent_total",
        "received_total",
        "received_acknowledged",
        "share_acknowledged",
        "received_pdf_valid",
        "share_pdf_valid",
        "accepted",
        "median_hours_to_acceptance",
        "sent_answered_by_all_recipients",
    ):
        row(["summary", key, "" if data[key] is None else data[key]])
    for item in report.past_due:
        row(["past_due", item["document_id"], item["due_date"]], item.get("from"))
    for item in report.rejections:
        row(["rejection", item["document_id"], item["reason"]], item.get("from"))
    return out.getvalue()


def _chart(report: EgovReport) -> str:
    months = list(report.sent_by_month)
    top = max([1, *report.sent_by_month.values(), *report.received_by_month.values()])
    width, height, pad = 80 * len(months) + 60, 220, 30
    bars: list[str] = []
    for i, month in enumerate(months):
        x = pad + i * 80
        for j, (series, color) in enumerate(
            ((report.sent_by_month, "#1f6f8b"), (report.received_by_month, "#e07b39"))
        ):
            value = series.get(month, 0)
            h = int((height - 2 * pad) * value / top)
            bars.append(
                f'<rect x="{x + j * 28}" y="{height - pad - h}" width="24" height="{h}" '
                f'fill="{color}"><title>{value}</title></rect>'
                f'<text x="{x + j * 28 + 12}" y="{height - pad - h - 4}" '
                f'text-anchor="middle" font-size="11">{value}</text>'
            )
        bars.append(
            f'<text x="{x + 26}" y="{height - 10}" text-anchor="middle" '
            f'font-size="12">{html.escape(month)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Văn bản gửi/nhận theo tháng">{"".join(bars)}</svg>'
    )


def chart_svg(report: EgovReport) -> str:
    """The report's chart (sent and received by month) as a standalone SVG document."""
    return _chart(report)


def _html(report: EgovReport, names: Mapping[str, str] | None = None) -> str:
    d = report.to_json()
    if names:
        d["past_due"] = [{**i, "from": _named(i.get("from"), names)} for i in d["past_due"]]
        d["rejections"] = [
            {**i, "from": _named(i.get("from"), names)} for i in d["rejections"]
        ]
    share = d["share_acknowledged"]
    pdf_share = d["share_pdf_valid"]
    median = d["median_hours_to_acceptance"]

    def rows(items: list[dict[str, Any]], keys: list[str]) -> str:
        if not items:
            return "<tr><td colspan='9'>Không có / none</td></tr>"
        return "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(i.get(k) or ''))}</td>" for k in keys) + "</tr>"
            for i in items
        )

    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo quản trị điện tử {html.escape(report.period)}</title>
<style>body{{font-family:'Noto Serif','Times New Roman',serif;margin:2em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px}}</style>
</head><body>
<h1>Báo cáo quản trị điện tử (PAPI nội dung 8) — {html.escape(report.period)}</h1>
<p>Cơ quan / Office: {html.escape(_named(report.office_id, names))}</p>
<h2>Văn bản điện tử gửi và nhận theo tháng / sent and received by month</h2>
<p><span style="color:#1f6f8b">■ gửi / sent</span>
 <span style="color:#e07b39">■ nhận / received</span></p>
{_chart(report)}
<h2>Tổng hợp / summary</h2>
<table>
<tr><th>Văn bản đã gửi / sent</th><td>{d["sent_total"]}</td></tr>
<tr><th>Văn bản đã nhận / received</th><td>{d["received_total"]}</td></tr>
<tr><th>Tỷ lệ đã xác nhận với trục / share acknowledged</th>
<td>{"" if share is None else f"{share * 100:.1f}%"}</td></tr>
<tr><th>Tỷ lệ văn bản đến có chữ ký số hợp lệ trên tệp PDF / share received with a valid
PDF signature</th><td>{"" if pdf_share is None else f"{pdf_share * 100:.1f}%"}</td></tr>
<tr><th>Đã {_ACCEPTED.vi.lower()} ({_ACCEPTED}) / {_ACCEPTED.en}</th><td>{d["accepted"]}</td></tr>
<tr><th>Thời gian trung vị đến khi tiếp nhận / median hours to acceptance</th>
<td>{"" if median is None else median}</td></tr>
</table>
<h2>Văn bản quá hạn xử lý / past their due date</h2>
<table><tr><th>DocumentId</th><th>Nơi gửi</th><th>Trích yếu</th><th>Hạn</th><th>Trạng thái</th></tr>
{rows(d["past_due"], ["document_id", "from", "subject", "due_date", "state_name"])}</table>
<h2>Văn bản bị từ chối / rejections</h2>
<table><tr><th>DocumentId</th><th>Nơi gửi</th><th>Lý do / reason</th></tr>
{rows(d["rejections"], ["document_id", "from", "reason"])}</table>
</body></html>
"""
