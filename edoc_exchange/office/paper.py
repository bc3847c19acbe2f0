"""The clerk's paper counts and the e-governance báo cáo as a document of the office.

Paper counts: how many documents the office sent and received on paper in a quarter, which
only the clerk knows; entered from ``edoc report paper`` or the e-governance page, checked
(a quarter that exists and has begun, counts that are whole and not negative) and written
with its audit event in one transaction.

The báo cáo: the reports package builds it as a report's YAML; this module validates and
renders it like any report the office composes (the decree's layout), signed by the office's
signer once it has a number that the register has not used.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from .. import audit
from ..compose import Report, parse, render_pdf
from ..compose.envelope import check_number
from ..errors import EdocError
from ..store import paper as paper_store
from ..vntime import to_vn_time
from ._office import Office
from .composing import numbers_used

__all__ = [
    "PaperCountError",
    "RenderedReport",
    "enter_paper_count",
    "parse_quarter",
    "render_report_yaml",
]

#: The most documents one office handles on paper in a quarter, as a typo guard.
MAX_COUNT = 1_000_000


class PaperCountError(EdocError):
    """A paper count that cannot be entered (a quarter that is not one or has not begun, a
    count that is not a whole number from 0)."""


def parse_quarter(text: str) -> tuple[int, int]:
    """``2026-Q4`` -> (2026, 4); PaperCountError for anything else (2026-Q5, abc)."""
    value = unicodedata.normalize("NFC", text).strip().upper()
    found = re.fullmatch(r"(\d{4})-Q(\d+)", value)
    if found is None:
        raise PaperCountError(
            f"Quý '{text[:20]}' không hợp lệ; viết dạng 2026-Q4",
            f"the quarter '{text[:20]}' is not valid; write it as 2026-Q4",
            step="quarter",
        )
    year, quarter = int(found.group(1)), int(found.group(2))
    if not 1 <= quarter <= 4:
        raise PaperCountError(
            f"Quý {quarter} không có: một năm có quý 1 đến 4",
            f"there is no quarter {quarter}: a year has quarters 1 to 4",
            step="quarter",
        )
    if not 2000 <= year <= 2100:
        raise PaperCountError(
            f"Năm {year} nằm ngoài 2000–2100", f"the year {year} is outside 2000–2100",
            step="quarter",
        )
    return year, quarter


def _count(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PaperCountError(
            f"Số văn bản giấy ({what}) phải là số nguyên từ 0: '{value}'",
            f"the paper count ({what}) must be a whole number from 0: '{value}'",
            step=f"paper.{what}",
        )
    if value > MAX_COUNT:
        raise PaperCountError(
            f"Số văn bản giấy ({what}) quá lớn: {value} (tối đa {MAX_COUNT})",
            f"the paper count ({what}) is too large: {value} (at most {MAX_COUNT})",
            step=f"paper.{what}",
        )
    return value


def enter_paper_count(
    office: Office,
    quarter: str,
    *,
    received: int | None,
    sent: int | None,
    actor: str | None = None,
) -> tuple[int, int]:
    """Enter how many documents the office received and sent on paper in ``quarter``
    (``2026-Q4``); either may be None to leave it as it is. A new count replaces the old
    one; the audit log keeps both. Returns (year, quarter). Raises PaperCountError for a
    quarter that is not one or has not begun yet, a negative count, or no count at all."""
    year, number = parse_quarter(quarter)
    counts = {"in": _count(received, "received"), "out": _count(sent, "sent")}
    if counts["in"] is None and counts["out"] is None:
        raise PaperCountError(
            "Cần nhập số văn bản giấy đến (--received) hoặc đi (--sent)",
            "give the paper count received (--received) or sent (--sent)",
            step="paper",
        )
    now = office.clock()
    today = to_vn_time(now).date()
    first_day = dt.date(year, 3 * number - 2, 1)
    if first_day > today:
        raise PaperCountError(
            f"Quý {number} năm {year} chưa bắt đầu (hôm nay {today:%d/%m/%Y}): không nhập "
            "số văn bản giấy cho kỳ tương lai",
            f"quarter {number} of {year} has not begun (today is {today:%Y-%m-%d}): a paper "
            "count is not entered for a future period",
            step="quarter",
        )
    who = actor or office.identity.staff
    with office.db.transaction() as conn:
        for direction, count in counts.items():
            if count is None:
                continue
            paper_store.set_count(
                conn, office_id=office.office_id, year=year, quarter=number,
                direction=direction, count=count, by=who, now=now,
            )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.PAPER_COUNTED,
            {
                "year": year,
                "quarter": number,
                "received": counts["in"],
                "sent": counts["out"],
                "by": who,
            },
        )
    return year, number


@dataclass(frozen=True)
class RenderedReport:
    """A báo cáo rendered: its content, the PDF, and whether the office signed it."""

    content: Report
    pdf: bytes
    signed: bool


def render_report_yaml(
    office: Office, text: str, *, source: str = "bao-cao.yaml"
) -> RenderedReport:
    """Validate the report YAML ``text`` (``kind: report``) and render it in the decree's
    layout; signed by the office's signer (PAdES) when it has a number the register has not
    used, a preview (unsigned) without one. Raises the compose errors (InputError) for
    content that is not a report, ContentError for a number already used."""
    content = parse(text, source=source)
    if not isinstance(content, Report):
        raise PaperCountError(
            "Nội dung không phải một báo cáo (kind: report)",
            "the content is not a report (kind: report)",
            step="kind",
        )
    if content.number is None:
        return RenderedReport(content, render_pdf(content), signed=False)
    used = numbers_used(office.db, content.issuer.organ_id, content.date.year, content.notation)
    check_number(content, used)
    signer = office.signer
    return RenderedReport(content, render_pdf(content, signer=signer), signed=signer is not None)
