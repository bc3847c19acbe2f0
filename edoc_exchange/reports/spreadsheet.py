"""The e-governance figures as a spreadsheet (.xlsx), the form a commune's office forwards
to the district and reworks in the office suite it has (LibreOffice, Excel, WPS).

openpyxl writes the Office Open XML package in pure Python (no office suite on the
server); every figure is a number cell, not text, so the receiver can sum and chart it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from openpyxl import Workbook
from openpyxl.styles import Font

from .bao_cao import comparison, why_missing
from .egov import EgovReport, _state_name

__all__ = ["SUMMARY_ROWS", "XLSX_TYPE", "xlsx"]

#: The media type of an .xlsx file.
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The summary sheet's rows: (key of EgovReport.to_json, Vietnamese label, English label).
SUMMARY_ROWS: tuple[tuple[str, str, str], ...] = (
    ("sent_total", "Văn bản đã gửi", "Documents sent"),
    ("received_total", "Văn bản đã nhận", "Documents received"),
    ("received_acknowledged", "Đã xác nhận với trục", "Acknowledged at the axis"),
    ("share_acknowledged", "Tỷ lệ đã xác nhận", "Share acknowledged"),
    (
        "received_pdf_valid",
        "Văn bản đến có chữ ký số hợp lệ trên tệp PDF",
        "Received with a valid PDF signature",
    ),
    (
        "share_pdf_valid",
        "Tỷ lệ văn bản đến có chữ ký số hợp lệ",
        "Share received with a valid signature",
    ),
    ("accepted", "Đã tiếp nhận (03)", "Accepted (03)"),
    ("median_hours_to_acceptance", "Số giờ trung vị đến khi tiếp nhận", "Median hours to accept"),
    (
        "sent_answered_by_all_recipients",
        "Văn bản gửi đã được mọi nơi nhận trả lời",
        "Sent, answered by every recipient",
    ),
    ("paper_sent", "Văn bản đi gửi bằng giấy (văn thư nhập)", "Sent on paper (entered)"),
    (
        "paper_received",
        "Văn bản đến nhận bằng giấy (văn thư nhập)",
        "Received on paper (entered)",
    ),
    ("share_sent_electronic", "Tỷ lệ văn bản đi gửi điện tử", "Share sent electronically"),
    (
        "share_received_electronic",
        "Tỷ lệ văn bản đến nhận điện tử",
        "Share received electronically",
    ),
    (
        "received_rejected",
        "Văn bản đến bị từ chối (chữ ký gói tin không hợp lệ)",
        "Refused (XML signature not valid)",
    ),
    (
        "share_xml_valid",
        "Tỷ lệ văn bản đến có chữ ký số hợp lệ trên gói tin (XML)",
        "Share with a valid XML signature",
    ),
    ("handled_on_time", "Văn bản đến xử lý đúng hạn", "Handled on time"),
    ("handled_late", "Văn bản đến xử lý quá hạn", "Handled late or overdue"),
    ("share_on_time", "Tỷ lệ văn bản đến xử lý đúng hạn", "Share handled on time"),
)


def _name(code: object, names: Mapping[str, str]) -> str:
    text = "" if code is None else str(code)
    return names.get(text, text)


def xlsx(
    report: EgovReport,
    *,
    names: Mapping[str, str] | None = None,
    previous: EgovReport | None = None,
    period_words: tuple[str, str] | None = None,
) -> bytes:
    """The report as an .xlsx workbook: summary, by month, past due, rejections, by
    document type, and (with ``previous``) the comparison with the previous period.

    ``names`` (OrganId -> name) puts organisations by name beside their codes;
    ``period_words`` (this period, the previous one in words) heads the comparison. A share
    that cannot be computed (no paper count entered, nothing to divide) is an empty cell
    with the reason beside it, never 100%.
    """
    named = names or {}
    data = report.to_json()
    book = Workbook()
    bold = Font(bold=True)

    summary = book.active
    assert summary is not None
    summary.title = "Tong hop"
    summary.append(["Báo cáo quản trị điện tử (PAPI nội dung 8)", report.period])
    summary.append(["Cơ quan / Office", _name(report.office_id, named), report.office_id])
    summary.append([])
    summary.append(["Chỉ tiêu", "Indicator", "Giá trị / value"])
    for key, vi, en in SUMMARY_ROWS:
        summary.append([vi, en, data[key], why_missing(report, key)])
        if key.startswith("share_") and data[key] is not None:
            summary.cell(row=summary.max_row, column=3).number_format = "0.0%"
    for cell in (*summary[1], *summary[4]):
        cell.font = bold
    summary.column_dimensions["A"].width = 42
    summary.column_dimensions["B"].width = 34
    summary.column_dimensions["C"].width = 18

    months = book.create_sheet("Theo thang")
    months.append(["Tháng / month", "Gửi / sent", "Nhận / received"])
    for month in report.sent_by_month:
        months.append(
            [month, report.sent_by_month.get(month, 0), report.received_by_month.get(month, 0)]
        )
    months.column_dimensions["A"].width = 16

    late = book.create_sheet("Qua han")
    late.append(["DocumentId", "Nơi gửi / from", "Mã nơi gửi", "Trích yếu / subject",
                 "Hạn / due", "Trạng thái / state"])
    for item in report.past_due:
        late.append([
            item["document_id"], _name(item.get("from"), named), item.get("from"),
            item.get("subject"), item.get("due_date"), _state_name(str(item.get("state"))),
        ])

    refused = book.create_sheet("Tu choi")
    refused.append(["DocumentId", "Nơi gửi / from", "Mã nơi gửi", "Lý do / reason"])
    for item in report.rejections:
        refused.append([
            item["document_id"], _name(item.get("from"), named), item.get("from"),
            item.get("reason"),
        ])
    kinds = book.create_sheet("Theo loai")
    kinds.append(["Loại văn bản / type", "Đi / sent", "Đến / received"])
    for kind in sorted(set(report.sent_by_type) | set(report.received_by_type)):
        kinds.append(
            [kind, report.sent_by_type.get(kind, 0), report.received_by_type.get(kind, 0)]
        )
    kinds.column_dimensions["A"].width = 24
    sheets = [months, late, refused, kinds]
    if previous is not None:
        this_words, previous_words = period_words or (report.period, previous.period)
        compared = book.create_sheet("So sanh")
        compared.append(
            ["Chỉ tiêu / indicator", this_words, previous_words, "Thay đổi / change",
             "Đơn vị / unit"]
        )
        for change in comparison(report, previous):
            compared.append([
                change.label,
                None if change.current is None else float(change.current),
                None if change.previous is None else float(change.previous),
                None if change.change is None else float(change.change),
                change.unit,
            ])
        compared.column_dimensions["A"].width = 56
        sheets.append(compared)
    for sheet in sheets:
        for cell in sheet[1]:
            cell.font = bold

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
