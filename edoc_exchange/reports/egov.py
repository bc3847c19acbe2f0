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
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..audit import entries
from ..edxml import StatusCode
from ..errors import EdocError
from ..store import Database, InboxVerdict
from ..store import directory as directory_store
from ..store import handling as handling_store
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ..store import paper as paper_store
from ..store import pdfchecks as pdf_store
from ..vntime import VN_TZ, as_utc

__all__ = [
    "DOCUMENT_TYPE_NAMES",
    "EgovReport",
    "Period",
    "ReportError",
    "chart_svg",
    "document_type_name",
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

    @property
    def kind(self) -> str:
        """``quarter``, ``month`` or ``year``."""
        if "-Q" in self.label:
            return "quarter"
        return "month" if "-" in self.label else "year"

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def quarters(self) -> list[tuple[int, int]]:
        """The (year, quarter) pairs the period is made of; empty for a month (the clerk's
        paper counts are per quarter, so a month has none)."""
        if self.kind == "quarter":
            return [(self.year, (self.start.month - 1) // 3 + 1)]
        if self.kind == "year":
            return [(self.year, q) for q in (1, 2, 3, 4)]
        return []

    @property
    def words(self) -> str:
        """The period as a báo cáo names it: ``Quý IV năm 2026``, ``tháng 7 năm 2026``,
        ``năm 2026``."""
        if self.kind == "quarter":
            quarter = (self.start.month - 1) // 3 + 1
            return f"Quý {_ROMAN[quarter]} năm {self.year}"
        if self.kind == "month":
            return f"tháng {self.start.month} năm {self.year}"
        return f"năm {self.year}"

    @property
    def last_day(self) -> dt.date:
        """The period's last day (its end is the next period's first instant)."""
        return (self.end - dt.timedelta(days=1)).date()

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        if self.kind == "quarter":
            quarter = (self.start.month - 1) // 3 + 1
            year, quarter = (self.year - 1, 4) if quarter == 1 else (self.year, quarter - 1)
            return Period.parse(f"{year}-Q{quarter}")
        if self.kind == "month":
            year, month = (
                (self.year - 1, 12) if self.start.month == 1 else (self.year, self.start.month - 1)
            )
            return Period.parse(f"{year:04d}-{month:02d}")
        return Period.parse(f"{self.year - 1}")


_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}

#: The abbreviations of document types in a notation (Nghị định 30/2020, Phụ lục III) and
#: the types' names; a notation whose first part is none of them is a công văn (whose
#: notation starts with the issuing body's own abbreviation).
DOCUMENT_TYPE_NAMES: dict[str, str] = {
    "NQ": "Nghị quyết",
    "QĐ": "Quyết định",
    "CT": "Chỉ thị",
    "QC": "Quy chế",
    "QYĐ": "Quy định",
    "TC": "Thông cáo",
    "TB": "Thông báo",
    "HD": "Hướng dẫn",
    "CTr": "Chương trình",
    "KH": "Kế hoạch",
    "PA": "Phương án",
    "ĐA": "Đề án",
    "DA": "Dự án",
    "BC": "Báo cáo",
    "BB": "Biên bản",
    "TTr": "Tờ trình",
    "HĐ": "Hợp đồng",
    "CĐ": "Công điện",
    "BGN": "Bản ghi nhớ",
    "BTT": "Bản thỏa thuận",
    "GUQ": "Giấy ủy quyền",
    "GM": "Giấy mời",
    "GGT": "Giấy giới thiệu",
    "GNP": "Giấy nghỉ phép",
    "PG": "Phiếu gửi",
    "PC": "Phiếu chuyển",
    "PB": "Phiếu báo",
}
_CONG_VAN = "Công văn"


def document_type_name(document_id: str | None, type_name: str | None = None) -> str:
    """The type of a document by name: the TypeName it came with when there is one, else
    from its notation's first part (Phụ lục III), else công văn."""
    if type_name and type_name.strip():
        return unicodedata.normalize("NFC", type_name.strip())
    notation = ""
    if document_id:
        code = document_id.split(",", 2)[-1]
        notation = code.split("/", 1)[-1]
    first = unicodedata.normalize("NFC", notation.split("-", 1)[0]) if notation else ""
    for abbreviation, name in DOCUMENT_TYPE_NAMES.items():
        if first.casefold() == abbreviation.casefold():
            return name
    return _CONG_VAN


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
    #: Documents the clerk counted on paper in the period (None: not entered for every
    #: quarter of it; a month has none, the counts are per quarter).
    paper_sent: int | None = None
    paper_received: int | None = None
    #: The quarters of the period whose paper count was not entered ("2026-Q3").
    paper_missing: list[str] = field(default_factory=list)
    #: Received documents refused at the XML signature check (not in received_total).
    received_rejected: int = 0
    #: Received documents with at least one PDF attachment checked (pdf_verdicts).
    received_pdf_checked: int = 0
    #: Documents by type name (sent: from the audit log's "sent" events; received: the
    #: verified documents).
    sent_by_type: dict[str, int] = field(default_factory=dict)
    received_by_type: dict[str, int] = field(default_factory=dict)
    #: Received documents with a due date (the assignment's deadline, else the sender's)
    #: that count for the share handled on time: done on or before the due date (on time),
    #: done after it or still open past it (late); open and not yet due ones are apart.
    handled_on_time: int = 0
    handled_late: int = 0
    handled_open: int = 0

    @property
    def received_xml_valid(self) -> int:
        """Received documents whose XML signature verified (every one that was let in)."""
        return self.received_total

    @property
    def share_xml_valid(self) -> float | None:
        """Valid XML signature among everything that arrived (verified + refused)."""
        seen = self.received_total + self.received_rejected
        return self.received_total / seen if seen else None

    @property
    def share_sent_electronic(self) -> float | None:
        """Sent electronically / (electronically + on paper); None without a paper count
        or with nothing sent either way."""
        if self.paper_sent is None or not self.sent_total + self.paper_sent:
            return None
        return self.sent_total / (self.sent_total + self.paper_sent)

    @property
    def share_received_electronic(self) -> float | None:
        """Received electronically / (electronically + on paper), as the sent share."""
        if self.paper_received is None or not self.received_total + self.paper_received:
            return None
        return self.received_total / (self.received_total + self.paper_received)

    @property
    def handled_due(self) -> int:
        """Documents whose on-time share is decided: on time plus late."""
        return self.handled_on_time + self.handled_late

    @property
    def share_on_time(self) -> float | None:
        return self.handled_on_time / self.handled_due if self.handled_due else None

    @property
    def empty(self) -> bool:
        """Nothing was sent, received or refused in the period."""
        return not (self.sent_total or self.received_total or self.received_rejected)

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
            "paper_sent": self.paper_sent,
            "paper_received": self.paper_received,
            "paper_missing": self.paper_missing,
            "share_sent_electronic": _rounded(self.share_sent_electronic),
            "share_received_electronic": _rounded(self.share_received_electronic),
            "received_rejected": self.received_rejected,
            "received_xml_valid": self.received_xml_valid,
            "share_xml_valid": _rounded(self.share_xml_valid),
            "received_pdf_checked": self.received_pdf_checked,
            "sent_by_type": self.sent_by_type,
            "received_by_type": self.received_by_type,
            "handled_on_time": self.handled_on_time,
            "handled_late": self.handled_late,
            "handled_open": self.handled_open,
            "handled_due": self.handled_due,
            "share_on_time": _rounded(self.share_on_time),
        }


def _rounded(share: float | None) -> float | None:
    return round(share, 4) if share is not None else None


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
                kind = document_type_name(str(body.get("document_id") or ""))
                report.sent_by_type[kind] = report.sent_by_type.get(kind, 0) + 1
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
        handled = {
            h.id: h
            for h in handling_store.handling_between(conn, office_id, period.start, period.end)
        }
        pdf_valid = pdf_store.valid_between(conn, office_id, period.start, period.end)
        waits: list[float] = []
        end_day = today or min(period.end.date(), dt.date.today())
        for row in rows:
            if not period.contains(row.received_at):
                continue
            month = _month(row.received_at)
            if row.verdict == InboxVerdict.REJECTED:
                report.received_rejected += 1
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
            kind = document_type_name(row.document_id, row.doc_type)
            report.received_by_type[kind] = report.received_by_type.get(kind, 0) + 1
            if row.axis_doc_id in acked:
                report.received_acknowledged += 1
            if row.id in pdf_valid:
                report.received_pdf_valid += 1
            if row.accepted_at is not None:
                report.accepted += 1
                waits.append(
                    (as_utc(row.accepted_at) - as_utc(row.received_at)).total_seconds() / 3600
                )
            due = handled[row.id].due if row.id in handled else row.due_date
            if (
                due
                and row.clerk_state != StatusCode.DONE
                and dt.date.fromisoformat(due) < end_day
            ):
                report.past_due.append(
                    {
                        "document_id": row.document_id,
                        "from": row.sender,
                        "subject": row.subject,
                        "due_date": due,
                        "state": row.clerk_state,
                        "state_name": _state_name(row.clerk_state),
                    }
                )
        if waits:
            report.median_hours_to_acceptance = statistics.median(waits)
        answered = outbox_store.finished_document_ids(conn, office_id)
        report.sent_answered = len(sent_docs & answered)
        verified_ids = [r.id for r in rows if r.verdict == InboxVerdict.VERIFIED]
        report.received_pdf_checked = len(pdf_store.checked_inbox_ids(conn, verified_ids))
        _on_time(report, list(handled.values()), end_day)
        _paper(report, paper_store.counts_of(conn, office_id, [period.year]), period)
    return report


def _on_time(
    report: EgovReport, handled: list[handling_store.Handled], end_day: dt.date
) -> None:
    """On time: done (06) on or before the due date, in Vietnam days. Late: done after
    it, or still open when the due date is before ``end_day``. Refused documents (02) and
    documents without a due date do not count."""
    for item in handled:
        due = item.due
        if not due or item.clerk_state == StatusCode.REJECTED:
            continue
        due_day = dt.date.fromisoformat(due)
        if item.clerk_state == StatusCode.DONE:
            done_day = as_utc(item.state_changed_at).astimezone(VN_TZ).date()
            if done_day <= due_day:
                report.handled_on_time += 1
            else:
                report.handled_late += 1
        elif due_day < end_day:
            report.handled_late += 1
        else:
            report.handled_open += 1


def _paper(report: EgovReport, counts: list[paper_store.PaperCount], period: Period) -> None:
    """Sum the clerk's counts over the period's quarters; None unless every quarter has one
    (a share over part of the period would say more than is known)."""
    quarters = period.quarters
    if not quarters:
        report.paper_missing = [period.label]
        return
    found = {(c.year, c.quarter, c.direction): c.count for c in counts}
    for direction, attr in (("out", "paper_sent"), ("in", "paper_received")):
        values = [found.get((y, q, direction)) for y, q in quarters]
        if all(v is not None for v in values):
            setattr(report, attr, sum(v or 0 for v in values))
    report.paper_missing = [
        f"{y}-Q{q}" for y, q in quarters
        if (y, q, "out") not in found or (y, q, "in") not in found
    ]


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
        "paper_sent",
        "paper_received",
        "share_sent_electronic",
        "share_received_electronic",
        "received_rejected",
        "share_xml_valid",
        "received_pdf_checked",
        "handled_on_time",
        "handled_late",
        "handled_open",
        "share_on_time",
    ):
        row(["summary", key, "" if data[key] is None else data[key]])
    for kind, count in sorted(report.sent_by_type.items()):
        row(["sent_by_type", kind, count])
    for kind, count in sorted(report.received_by_type.items()):
        row(["received_by_type", kind, count])
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
