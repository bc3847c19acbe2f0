"""Findings: what the reader and the strict checker report about a message.

A finding names a rule (``code``), where it applies (an element path such as
``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId`` and, when the input had
one, its line) and says what is wrong in Vietnamese and in English. Texts live in one
catalogue below so that the CLI, the JSON output and the exceptions say the same thing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["MESSAGES", "Finding", "Severity", "make_finding"]


class Severity(enum.StrEnum):
    """How bad a finding is."""

    #: The message is not acceptable: reading fails (or writing is refused).
    ERROR = "error"
    #: A deviation a tolerant reader accepts and reports (lenient mode only).
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a message, with where it is and what to do."""

    code: str
    severity: Severity
    path: str
    line: int | None
    vi: str
    en: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.severity.value}: {self.vi} ({self.en})"

    def to_json(self) -> dict[str, Any]:
        """A stable JSON object for machine readers (``edoc validate --json``)."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "path": self.path,
            "line": self.line,
            "message": self.en,
            "message_vi": self.vi,
        }


#: code -> (Vietnamese template, English template); templates use str.format fields.
MESSAGES: dict[str, tuple[str, str]] = {
    "input-empty": ("Tệp rỗng", "the input is empty"),
    "input-too-large": (
        "Gói tin quá lớn: {size} byte, giới hạn {limit} byte",
        "the message is {size} bytes, over the limit of {limit} bytes",
    ),
    "too-many-elements": (
        "Gói tin có quá nhiều phần tử XML (giới hạn {limit})",
        "the message has too many XML elements (limit {limit})",
    ),
    "too-deep": (
        "Cấu trúc XML lồng quá sâu (giới hạn {limit} cấp)",
        "the XML nests deeper than {limit} levels",
    ),
    "too-many-attachments": (
        "Quá nhiều tệp đính kèm: {count}, giới hạn {limit}",
        "too many attachments: {count}, the limit is {limit}",
    ),
    "stray-bytes": (
        "Có {count} byte lạ trước khai báo XML",
        "{count} stray bytes before the XML declaration",
    ),
    "not-xml": ("Không phải tệp XML", "the input is not XML"),
    "doctype-forbidden": (
        "Không chấp nhận khai báo DOCTYPE (có thể là tấn công thực thể XML)",
        "a DOCTYPE is not allowed (it can carry XML entity attacks)",
    ),
    "xml-syntax": ("Lỗi cú pháp XML: {detail}", "XML syntax error: {detail}"),
    "bad-encoding": (
        "Mã hóa ký tự không hợp lệ (phải là UTF-8): {detail}",
        "invalid character encoding (UTF-8 required): {detail}",
    ),
    "encoding-not-utf8": (
        "Gói tin khai báo mã hóa {encoding}, quy chuẩn yêu cầu UTF-8",
        "the message declares encoding {encoding}; the standard requires UTF-8",
    ),
    "undeclared-prefix": (
        "Tiền tố không gian tên chưa khai báo: {detail}",
        "undeclared namespace prefix: {detail}",
    ),
    "wrong-root": (
        "Phần tử gốc phải là edXML trong không gian tên {ns}, nhận được {found}",
        "the root must be edXML in namespace {ns}; found {found}",
    ),
    "missing-element": ("Thiếu phần tử bắt buộc {name}", "required element {name} is missing"),
    "missing-optional": (
        "Thiếu phần tử {name} (quy chuẩn yêu cầu)",
        "element {name} is missing (the standard expects it)",
    ),
    "unknown-element": (
        "Phần tử không có trong quy chuẩn: {name} (được giữ nguyên)",
        "element not in the standard: {name} (kept as extension data)",
    ),
    "unknown-attribute": (
        "Thuộc tính không có trong quy chuẩn: {name} (bị bỏ qua)",
        "attribute not in the standard: {name} (ignored)",
    ),
    "duplicate-element": (
        "Phần tử {name} xuất hiện nhiều lần; bản sau được giữ nguyên như dữ liệu mở rộng",
        "element {name} appears more than once; the later copy is kept as extension data",
    ),
    "business-spelling": (
        "Dùng tên Business thay vì Bussiness như quy chuẩn",
        "Business is written instead of the standard's Bussiness",
    ),
    "not-text": (
        "Phần tử {name} chỉ được chứa văn bản",
        "element {name} must contain text only",
    ),
    "bad-int": ("Giá trị '{value}' không phải số nguyên", "'{value}' is not an integer"),
    "bad-bool": (
        "Giá trị '{value}' không phải true/false/0/1",
        "'{value}' is not true/false/0/1",
    ),
    "bad-date": (
        "Ngày '{value}' không đúng định dạng yyyy/MM/dd",
        "date '{value}' is not a valid yyyy/MM/dd date",
    ),
    "bad-timestamp": (
        "Thời điểm '{value}' không đúng định dạng yyyy/MM/dd HH:mm:ss",
        "timestamp '{value}' is not a valid yyyy/MM/dd HH:mm:ss time",
    ),
    "date-format": (
        "'{value}' không theo định dạng của quy chuẩn (yyyy/MM/dd, yyyy/MM/dd HH:mm:ss)",
        "'{value}' is not in the standard's format (yyyy/MM/dd, yyyy/MM/dd HH:mm:ss)",
    ),
    "bad-text": ("Văn bản không hợp lệ: {detail}", "invalid text: {detail}"),
    "too-long": (
        "Dài {length} ký tự, vượt giới hạn {limit}",
        "{length} characters long, over the limit of {limit}",
    ),
    "bad-organ-id": ("Mã định danh không hợp lệ: {detail_vi}", "malformed OrganId: {detail}"),
    "bad-document-id": (
        "Mã văn bản (DocumentId) không hợp lệ: {detail_vi}",
        "malformed DocumentId: {detail}",
    ),
    "foreign-organ-id": (
        "Mã định danh '{value}' không theo dạng 4 cấp của QCVN 102 (mã của cách đánh số khác, "
        "như mã sau năm 2020); được giữ nguyên để trả lời",
        "OrganId '{value}' is not of QCVN 102's four-level form (a code of another scheme, "
        "such as the post-2020 codes); kept as sent so that replies reach it",
    ),
    "foreign-document-id": (
        "Mã văn bản '{value}' của nơi khác không theo dạng OrganId,yyyy/MM/dd,Số/Ký hiệu "
        "({detail_vi}); được giữ nguyên để trả lời",
        "another organisation's DocumentId '{value}' is not of the form "
        "OrganId,yyyy/MM/dd,Number/Notation ({detail}); kept as sent so that replies match it",
    ),
    "null-text": (
        "Phần tử {name} chứa chữ 'null' (giá trị rỗng do phần mềm gửi viết ra): coi như không có",
        "element {name} holds the text 'null' (an empty value as the sending software wrote "
        "it): taken as absent",
    ),
    "uuid-document-id": (
        "Mã văn bản là UUID '{value}', không theo dạng OrganId,yyyy/MM/dd,Số/Ký hiệu",
        "DocumentId '{value}' is a UUID, not OrganId,yyyy/MM/dd,Number/Notation",
    ),
    "bad-priority": (
        "Độ khẩn {value} không thuộc 0-4",
        "Priority {value} is outside 0-4",
    ),
    "bad-code-value": (
        "Giá trị '{value}' không hợp lệ; cho phép: {allowed}",
        "'{value}' is not valid; allowed: {allowed}",
    ),
    "bad-status-code": (
        "Mã trạng thái '{value}' phải gồm hai chữ số",
        "StatusCode '{value}' must be two digits",
    ),
    "empty-response-for": (
        "Phần tử ResponseFor rỗng (bị bỏ qua)",
        "ResponseFor is empty (ignored)",
    ),
    "legacy-signature": (
        "Chữ ký kiểu cũ của SDK (không gian tên edXML), không thể kiểm tra",
        "legacy SDK signature element (edXML namespace): unverifiable",
    ),
    "signature-misplaced": (
        "Chữ ký số phải nằm trong edXMLHeader, sau TraceHeaderList",
        "the Signature must be inside edXMLHeader, after TraceHeaderList",
    ),
    "extra-signature": (
        "Có nhiều hơn một chữ ký số",
        "more than one Signature element",
    ),
    "bad-base64": (
        "Nội dung tệp đính kèm không phải base64 hợp lệ: {detail}",
        "attachment content is not valid base64: {detail}",
    ),
    "reference-without-attachment": (
        "Tham chiếu {cid} trong edXMLManifest không có tệp đính kèm tương ứng",
        "manifest Reference {cid} has no Attachment",
    ),
    "attachment-without-reference": (
        "Tệp đính kèm {cid} không có tham chiếu trong edXMLManifest",
        "Attachment {cid} has no manifest Reference",
    ),
    "duplicate-content-id": (
        "ContentId {cid} bị trùng",
        "duplicate ContentId {cid}",
    ),
    "bad-content-id": (
        "ContentId '{value}' không hợp lệ (dạng cid:<mã>)",
        "ContentId '{value}' is not of the form cid:<id>",
    ),
    "bad-attachment-name": (
        "Tên tệp đính kèm '{value}' không hợp lệ: {detail}",
        "attachment name '{value}' is not acceptable: {detail}",
    ),
    "packed-attachment": (
        "Tệp {name} được ghi là application/zip: hãy gửi tệp với đúng kiểu của nó, không nén",
        "{name} is labelled application/zip: send each file as its own type, not zipped",
    ),
    "zip-corrupt": (
        "Tệp đính kèm nén (zip) bị hỏng: {detail}",
        "the zipped attachment is corrupt: {detail}",
    ),
    "zip-encrypted": (
        "Tệp đính kèm nén (zip) có mật khẩu, không mở được: {entry}",
        "the zipped attachment is encrypted and cannot be opened: {entry}",
    ),
    "zip-empty": (
        "Tệp đính kèm nén (zip) không chứa tệp nào",
        "the zipped attachment holds no file",
    ),
    "zip-too-many-entries": (
        "Tệp đính kèm nén (zip) có {count} mục, giới hạn {limit}",
        "the zipped attachment has {count} entries, over the limit of {limit}",
    ),
    "zip-entry-path": (
        "Tên mục '{entry}' trong tệp nén không hợp lệ: {detail}",
        "entry '{entry}' of the zipped attachment is not acceptable: {detail}",
    ),
    "zip-too-large": (
        "Giải nén các tệp đính kèm vượt quá {limit} byte (có thể là bom zip)",
        "unzipping the attachments exceeds {limit} bytes (possibly a zip bomb)",
    ),
    "zip-ratio": (
        "Tệp nén giải ra lớn hơn {limit} lần kích thước của nó (có thể là bom zip)",
        "the zip inflates to more than {limit} times its size (possibly a zip bomb)",
    ),
    "zip-extra-entries": (
        "Tệp nén có nhiều tệp: chỉ lấy {entry} như phần mềm chính thức; bỏ qua {ignored}",
        "the zip holds several files: {entry} is handed out, as the official parser does; "
        "ignored: {ignored}",
    ),
    "zip-label-not-zip": (
        "Tệp đính kèm ghi là application/zip nhưng không phải tệp nén: giữ nguyên nội dung",
        "the attachment is labelled application/zip but is not a zip: handed out as it is",
    ),
    "zip-label-on-document": (
        "Tệp đính kèm ghi là application/zip nhưng là tài liệu văn phòng (docx, odt…): "
        "giữ nguyên, không giải nén",
        "the attachment is labelled application/zip but is an office document (docx, odt…): "
        "handed out as it is, not unzipped",
    ),
    "reference-mismatch": (
        "{field} của tham chiếu ({ref}) khác của tệp đính kèm ({att})",
        "the Reference's {field} ({ref}) differs from the Attachment's ({att})",
    ),
    "wrong-element": (
        "Phần tử {name} không phải {expected}",
        "element {name} is not the expected {expected}",
    ),
    "bad-extension": (
        "Không giữ được phần tử này nguyên vẹn: {detail}",
        "this element cannot be kept as it is: {detail}",
    ),
    "unexpected": (
        "Không đọc được gói tin (lỗi của phần mềm, xin báo lại): {detail}",
        "the message could not be read (a bug in this software, please report it): {detail}",
    ),
    "invalid-value": ("Giá trị không hợp lệ: {detail}", "invalid value: {detail}"),
}


def make_finding(
    code: str, severity: Severity, path: str, line: int | None = None, **params: object
) -> Finding:
    """Build a finding from the catalogue; unknown codes are a programming error."""
    vi, en = MESSAGES[code]
    return Finding(code, severity, path, line, vi.format(**params), en.format(**params))
