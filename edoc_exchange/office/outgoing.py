"""Outgoing documents (văn bản đi): drafts, approval, issuing, the sent list, resending.

The one door behind the web pages, the CLI and an embedding tool for a document written
in a form with its main file uploaded (PDF or DOCX) and any number of attachments:

1. a chuyên viên, văn thư or lãnh đạo writes a draft (:func:`create_draft`,
   :func:`update_draft`) and submits it (:func:`submit_draft`);
2. a lãnh đạo approves it (:func:`approve_draft`) or sends it back with a note
   (:func:`return_draft`);
3. the văn thư issues it (:func:`issue_draft`): the number is taken from the outgoing
   register, the edXML document is built, signed with the office key and queued, and the
   draft is marked issued, all in one transaction;
4. the sent list (:func:`sent_list`, :func:`sent_details`) shows each recipient's status
   and, in words, what is stuck and why; a failed document is queued again by
   :func:`resend`.

A plan or report written in YAML (``edoc compose``'s format) becomes a draft too
(:func:`draft_from_yaml`): its fields come from the YAML, its main file is the PDF composing
renders, and it follows the same approve-then-issue path; at issue the PDF is rendered
again with the number taken and signed (PAdES) with the office key.

Everything a person typed or uploaded is checked before the first write (each error
names its field: ``step="draft.subject"``); a draft in the wrong state is refused with
nothing changed. Files are checked for what they claim to be: a PDF is parsed by pyhanko's
reader when the ``[pdf]`` extra is installed, else only its structure (header,
``startxref``, ``%%EOF``) is checked; office files (DOCX, XLSX, ODF) are opened as zips in
memory, never extracted to disk, their main part read under a bound (which checks its CRC).
An attachment name carrying a path (``../x``, ``C:\\x``, ``a/b``) is refused, not reduced:
only a script sends one, and a silently renamed file is worse than a clear refusal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .. import audit, edxml, signing
from ..compose import (
    SIGNER_FIELD,
    ContentError,
    Plan,
    Problem,
    Report,
    YamlSyntaxError,
    parse,
    render_pdf,
    unsigned_before,
)
from ..compose.envelope import TYPE_CODE, attachment_stem, to_document
from ..compose.load import MAX_BYTES as YAML_MAX_BYTES
from ..compose.load import locate_in
from ..edxml.models import check_attachment_name
from ..errors import EdocError
from ..store import DraftState, OutboxState
from ..store import directory as directory_store
from ..store import drafts as drafts_store
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ..store import register as register_store
from ..store.search import fold
from ..vntime import to_vn_time
from . import staff
from ._office import FINAL_STATUSES, Office
from .composing import _queued_numbers, write_unnumbered
from .sending import queue_within
from .visible import issue_pdf, render_for_signing, sign_as

__all__ = [
    "CLI_ACTOR",
    "DOCUMENT_TYPES",
    "PRIORITIES",
    "YAML_MAX_BYTES",
    "DraftDetails",
    "DraftError",
    "DraftForm",
    "DraftState",
    "DraftSummary",
    "Issued",
    "OutboxState",
    "RecipientState",
    "SentDetails",
    "SentDocument",
    "SentItem",
    "SentPage",
    "Upload",
    "approve_draft",
    "check_file",
    "create_draft",
    "draft_details",
    "draft_file",
    "draft_from_yaml",
    "issue_draft",
    "list_drafts",
    "outbox_state_name",
    "pdf_structure_problem",
    "recipient_choices",
    "replace_draft_yaml",
    "resend",
    "return_draft",
    "send_document",
    "sent_details",
    "sent_list",
    "state_name",
    "submit_draft",
    "update_draft",
]

#: The document types a commune writes (Nghị định 30/2020, Phụ lục III): key -> (TypeName,
#: abbreviation used in the notation). The numeric edXML ``Type`` is not documented
#: consistently across peers, so every type is written with the code composing uses
#: (``TYPE_CODE``) and ``TypeName`` carries the meaning, as the specification advises.
DOCUMENT_TYPES: Final[dict[str, tuple[str, str]]] = {
    "cong-van": ("Công văn", "UBND"),
    "ke-hoach": ("Kế hoạch", "KH"),
    "bao-cao": ("Báo cáo", "BC"),
    "thong-bao": ("Thông báo", "TB"),
    "quyet-dinh": ("Quyết định", "QĐ"),
    "to-trinh": ("Tờ trình", "TTr"),
    "giay-moi": ("Giấy mời", "GM"),
    "chuong-trinh": ("Chương trình", "CTr"),
    "huong-dan": ("Hướng dẫn", "HD"),
    "bien-ban": ("Biên bản", "BB"),
}

#: edXML ``OtherInfo/Priority`` (0-4) -> (Vietnamese, English), as peers use them.
PRIORITIES: Final[dict[int, tuple[str, str]]] = {
    0: ("Thường", "normal"),
    1: ("Khẩn", "urgent"),
    2: ("Thượng khẩn", "very urgent"),
    3: ("Hỏa tốc", "immediate"),
    4: ("Hỏa tốc hẹn giờ", "immediate, timed"),
}

#: Default bound on one uploaded file (the web passes ``[web] upload_max_mb``).
DEFAULT_MAX_FILE_BYTES: Final = 50 * 1024 * 1024
#: Most files on one document (the main one included): the reader's attachment bound.
MAX_FILES: Final = edxml.DEFAULT_LIMITS.max_attachments
#: Entries a zipped office file may hold, and bytes of its main part read to check it.
_ZIP_ENTRIES: Final = 5000
_ZIP_PART_BYTES: Final = 200 * 1024 * 1024

_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ODT = "application/vnd.oasis.opendocument.text"
_ODS = "application/vnd.oasis.opendocument.spreadsheet"
#: Extension -> (content type, what a person calls it). Main documents: PDF or DOCX.
_KINDS: Final[dict[str, tuple[str, str, str]]] = {
    "pdf": ("application/pdf", "PDF", "PDF"),
    "docx": (_DOCX, "Word (DOCX)", "Word (DOCX)"),
    "xlsx": (_XLSX, "Excel (XLSX)", "Excel (XLSX)"),
    "odt": (_ODT, "văn bản ODT", "ODT text"),
    "ods": (_ODS, "bảng tính ODS", "ODS spreadsheet"),
    "doc": ("application/msword", "Word (DOC)", "Word (DOC)"),
    "xls": ("application/vnd.ms-excel", "Excel (XLS)", "Excel (XLS)"),
    "jpg": ("image/jpeg", "ảnh JPEG", "JPEG image"),
    "jpeg": ("image/jpeg", "ảnh JPEG", "JPEG image"),
    "png": ("image/png", "ảnh PNG", "PNG image"),
    "tif": ("image/tiff", "ảnh TIFF", "TIFF image"),
    "tiff": ("image/tiff", "ảnh TIFF", "TIFF image"),
}
_MAIN_KINDS: Final = frozenset({"pdf", "docx"})

_NOTATION = re.compile(r"[^\W_][\w.\-]*")
_WRITERS: Final = frozenset({staff.Role.OFFICER, staff.Role.CLERK, staff.Role.LEADER})

_STATE_NAMES: Final[dict[DraftState, tuple[str, str]]] = {
    DraftState.DRAFT: ("Đang soạn", "being written"),
    DraftState.SUBMITTED: ("Chờ duyệt", "waiting for approval"),
    DraftState.APPROVED: ("Đã duyệt", "approved"),
    DraftState.ISSUED: ("Đã phát hành", "issued"),
}


class DraftError(EdocError):
    """A draft's field, file or state refused; ``step`` names the field (``draft.subject``)."""


def state_name(state: DraftState) -> tuple[str, str]:
    """How a person calls a draft's state (Vietnamese, English)."""
    return _STATE_NAMES[state]


# --- input ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the form gave it: its name and bytes (the browser's content
    type is not trusted: the extension and the bytes decide). ``truncated`` says the
    reader stopped at the bound, so the file is larger than it."""

    name: str
    data: bytes
    truncated: bool = False


@dataclass(frozen=True)
class DraftForm:
    """A draft's fields as a form gives them (text); :func:`create_draft` checks them.

    ``doc_type`` is a key of :data:`DOCUMENT_TYPES`; ``priority`` a key of
    :data:`PRIORITIES` as text; ``due_date`` ``yyyy-mm-dd`` or empty; ``recipients``
    OrganIds from the organisation directory.
    """

    doc_type: str
    notation: str
    subject: str
    recipients: Sequence[str]
    priority: str = "0"
    due_date: str = ""
    place: str = ""
    signer_competence: str = ""
    signer_position: str = ""
    signer_name: str = ""


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _refuse(step: str, vi: str, en: str) -> DraftError:
    return DraftError(vi, en, step=f"draft.{step}")


def _text(value: str, step: str, vi_name: str, en_name: str, limit: int, *,
          required: bool = True) -> str:
    text = " ".join(_nfc(value).split())
    if required and not text:
        raise _refuse(step, f"Chưa nhập {vi_name}", f"the {en_name} is empty")
    if len(text) > limit:
        raise _refuse(
            step,
            f"{vi_name.capitalize()} dài quá {limit} ký tự ({len(text)})",
            f"the {en_name} is longer than {limit} characters ({len(text)})",
        )
    return text


def _check_fields(
    form: DraftForm, known: Mapping[str, str], today: dt.date, *, check_recipients: bool = True
) -> dict[str, Any]:
    """The form's fields checked and normalised (NFC, spaces), as the draft stores them.

    ``check_recipients=False`` (a preview) checks only that each recipient is an OrganId:
    recipients are checked against the directory when a document is queued, not before.
    """
    if form.doc_type not in DOCUMENT_TYPES:
        raise _refuse("doc_type", "Chọn loại văn bản trong danh sách",
                      "choose a document type from the list")
    notation = _nfc(form.notation)
    if not notation:
        raise _refuse("notation", "Chưa nhập ký hiệu văn bản (ví dụ KH-UBND)",
                      "the notation is empty (e.g. KH-UBND)")
    if len(notation) > 30 or not _NOTATION.fullmatch(notation):
        raise _refuse(
            "notation",
            f"Ký hiệu '{notation}' không hợp lệ: tối đa 30 ký tự, chỉ chữ, số, '-' và '.' "
            "(ví dụ KH-UBND)",
            f"notation '{notation}' is not valid: at most 30 letters, digits, '-' and '.' "
            "(e.g. KH-UBND)",
        )
    subject = _text(form.subject, "subject", "trích yếu", "subject", 500)
    if check_recipients and not known:
        raise _refuse(
            "recipients",
            "Chưa có danh bạ cơ quan: chạy tiến trình nền (edoc daemon run) để tải danh bạ",
            "the organisation directory is empty: run the daemon (edoc daemon run) to fetch it",
        )
    recipients: list[str] = []
    for given in form.recipients:
        organ = _nfc(given)
        if not organ or organ in recipients:
            continue
        if not check_recipients:
            try:
                edxml.OrganId.parse(organ)
            except edxml.IdentifierError:
                raise _refuse(
                    "recipients",
                    f"Nơi nhận '{organ}' không phải mã định danh cơ quan (ví dụ 000.00.05.H38)",
                    f"recipient '{organ}' is not an OrganId (e.g. 000.00.05.H38)",
                ) from None
        elif organ not in known:
            raise _refuse(
                "recipients",
                f"Nơi nhận '{organ}' không có trong danh bạ cơ quan; chọn từ danh bạ",
                f"recipient '{organ}' is not in the organisation directory; pick one from it",
            )
        recipients.append(organ)
    if not recipients:
        raise _refuse("recipients", "Chọn ít nhất một nơi nhận", "choose at least one recipient")
    try:
        priority = int(form.priority)
    except ValueError:
        priority = -1
    if priority not in PRIORITIES:
        raise _refuse("priority", "Chọn độ khẩn trong danh sách (0-4)",
                      "choose an urgency from the list (0-4)")
    due = _nfc(form.due_date)
    if due:
        try:
            due_date = dt.date.fromisoformat(due)
        except ValueError:
            raise _refuse("due_date", f"Hạn xử lý '{due}' không phải ngày (yyyy-mm-dd)",
                          f"due date '{due}' is not a date (yyyy-mm-dd)") from None
        if due_date < today:
            raise _refuse("due_date", f"Hạn xử lý {due_date:%d/%m/%Y} đã qua",
                          f"the due date {due_date.isoformat()} has passed")
        due = due_date.isoformat()
    return {
        "doc_type": form.doc_type,
        "type_name": DOCUMENT_TYPES[form.doc_type][0],
        "notation": notation,
        "subject": subject,
        "recipients": recipients,
        "priority": priority,
        "due_date": due or None,
        "place": _text(form.place, "place", "địa danh", "place", 150),
        "signer_competence": _text(form.signer_competence, "signer_competence",
                                   "thẩm quyền ký", "signing authority", 100, required=False),
        "signer_position": _text(form.signer_position, "signer_position", "chức vụ người ký",
                                 "signer's position", 100),
        "signer_name": _text(form.signer_name, "signer_name", "họ tên người ký",
                             "signer's full name", 50),
    }


# --- files ---------------------------------------------------------------------------


def pdf_structure_problem(data: bytes) -> str | None:
    """Why ``data`` is not shaped like a PDF (header, cross-reference pointer, end
    marker), or None. The check that stands when pyhanko is not installed; it proves
    neither that the objects parse nor that a reader can show the pages."""
    if not data.startswith(b"%PDF-"):
        return "does not start with %PDF- / không bắt đầu bằng %PDF-"
    tail = data[-2048:]
    if b"%%EOF" not in tail[-1024:]:
        return "has no %%EOF at its end (cut short?) / thiếu %%EOF ở cuối (bị cắt?)"
    if b"startxref" not in tail:
        return "has no startxref before its end / thiếu startxref ở cuối"
    return None


def _pdf_problem(data: bytes) -> str | None:
    problem = pdf_structure_problem(data)
    if problem is not None:
        return problem
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
    except ImportError:  # the [pdf] extra is not installed: the structure check stands
        return None
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return "is password-protected / có mật khẩu"
        pages = reader.root["/Pages"]
        count = int(pages["/Count"])
        if count < 1:
            return "has no page / không có trang nào"
        reader.root["/Pages"]["/Kids"][0].get_object()
    except Exception as exc:  # any failure of the parser on untrusted bytes
        return f"cannot be read ({type(exc).__name__}) / không đọc được"
    return None


def _zip_problem(data: bytes, needed: Sequence[str], mimetype: str | None = None) -> str | None:
    """Why ``data`` is not a sound zip holding ``needed``: opened in memory, the entry list
    bounded, the first needed part read (under a bound) so that its CRC is checked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if len(names) > _ZIP_ENTRIES:
                return f"holds too many entries ({len(names)}) / quá nhiều mục"
            missing = [n for n in needed if n not in names]
            if missing:
                return f"lacks {', '.join(missing)} / thiếu {', '.join(missing)}"
            if mimetype is not None:
                with archive.open("mimetype") as stream:
                    if stream.read(200).strip() != mimetype.encode():
                        return "is of another kind (mimetype) / thuộc loại khác (mimetype)"
            with archive.open(needed[-1]) as stream:
                while stream.read(1024 * 1024):
                    if stream.tell() > _ZIP_PART_BYTES:
                        return "unpacks to too much / giải nén ra quá lớn"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        return f"is a damaged zip ({type(exc).__name__}) / tệp nén bị hỏng"
    except NotImplementedError:
        return "uses an unknown compression / dùng kiểu nén không hỗ trợ"
    return None


def _content_problem(kind: str, data: bytes) -> str | None:
    if kind == "pdf":
        return _pdf_problem(data)
    if kind == "docx":
        return _zip_problem(data, ["[Content_Types].xml", "word/document.xml"])
    if kind == "xlsx":
        return _zip_problem(data, ["[Content_Types].xml", "xl/workbook.xml"])
    if kind in ("odt", "ods"):
        return _zip_problem(data, ["mimetype", "content.xml"], _KINDS[kind][0])
    if kind in ("doc", "xls"):
        ok = data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
        return None if ok else "is not an Office 97-2003 file / không phải tệp Office 97-2003"
    if kind in ("jpg", "jpeg"):
        ok = data.startswith(b"\xff\xd8\xff") and b"\xff\xd9" in data[-1024:]
        return None if ok else "is not a whole JPEG image / không phải ảnh JPEG trọn vẹn"
    if kind == "png":
        ok = data.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in data[-64:]
        return None if ok else "is not a whole PNG image / không phải ảnh PNG trọn vẹn"
    ok = data.startswith((b"II*\x00", b"MM\x00*"))
    return None if ok else "is not a TIFF image / không phải ảnh TIFF"


def check_file(
    upload: Upload, step: str, *, main: bool, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> drafts_store.NewFile:
    """One uploaded file checked: a plain name (no path), a known extension (PDF or DOCX
    for the main document), within ``max_bytes``, not empty, and its bytes what the
    extension says. Returns it with its content type; raises DraftError naming ``step``."""
    name = _nfc(upload.name)
    shown = name or "(không tên)"
    if not name:
        raise _refuse(step, "Chưa chọn tệp", "no file was chosen")
    problem = check_attachment_name(name)
    if problem is not None or name.startswith("..") or len(name) > 200:
        raise _refuse(
            step,
            f"Tên tệp '{name}' không hợp lệ (chứa đường dẫn, ký tự điều khiển hoặc quá dài): "
            "đặt tên tệp đơn giản, không có thư mục, rồi tải lên lại",
            f"file name '{name}' is not valid (a path, control characters or too long): "
            "give the file a plain name, without folders, and upload it again",
        )
    kind = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = _MAIN_KINDS if main else frozenset(_KINDS)
    if kind not in allowed:
        listed = ", ".join(sorted(allowed))
        raise _refuse(
            step,
            f"Tệp '{shown}' không thuộc loại được nhận ({listed})",
            f"file '{shown}' is not of an accepted type ({listed})",
        )
    size = len(upload.data)
    if upload.truncated or size > max_bytes:
        limit_mb = max_bytes / (1024 * 1024)
        raise _refuse(
            step,
            f"Tệp '{shown}' lớn quá giới hạn {limit_mb:g} MB",
            f"file '{shown}' is larger than the {limit_mb:g} MB limit",
        )
    if size == 0:
        raise _refuse(step, f"Tệp '{shown}' rỗng", f"file '{shown}' is empty")
    content_type, vi_kind, en_kind = _KINDS[kind]
    found = _content_problem(kind, upload.data)
    if found is not None:
        raise _refuse(
            step,
            f"Tệp '{shown}' không phải tệp {vi_kind} hợp lệ hoặc bị hỏng: {found}",
            f"file '{shown}' is not a valid {en_kind} file or is damaged: {found}",
        )
    return drafts_store.NewFile(name, content_type, upload.data)


def _check_files(
    main: Upload | None, attachments: Sequence[Upload] | None, max_bytes: int, *,
    main_required: bool,
) -> tuple[drafts_store.NewFile | None, list[drafts_store.NewFile] | None]:
    checked_main = None
    if main is not None:
        checked_main = check_file(main, "main_file", main=True, max_bytes=max_bytes)
    elif main_required:
        raise _refuse("main_file", "Chưa tải lên văn bản chính (PDF hoặc DOCX)",
                      "the main document (PDF or DOCX) was not uploaded")
    if attachments is None:
        return checked_main, None
    if len(attachments) + 1 > MAX_FILES:
        raise _refuse("attachments", f"Nhiều hơn {MAX_FILES - 1} tệp đính kèm",
                      f"more than {MAX_FILES - 1} attachments")
    checked = [
        check_file(a, f"attachments[{i + 1}]", main=False, max_bytes=max_bytes)
        for i, a in enumerate(attachments)
    ]
    names = [f.name.lower() for f in checked] + (
        [checked_main.name.lower()] if checked_main is not None else []
    )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _refuse("attachments", f"Hai tệp cùng tên: {', '.join(duplicates)}; đổi tên một tệp",
                      f"two files share a name: {', '.join(duplicates)}; rename one")
    return checked_main, checked


# --- who may do what -----------------------------------------------------------------


def _require(office: Office, by: staff.User, roles: frozenset[staff.Role], vi: str,
             en: str) -> None:
    if by.office_id != office.office_id or by.disabled or by.role not in roles:
        raise DraftError(
            f"Tài khoản {by.username} không được {vi}",
            f"account {by.username} may not {en}",
            step="draft.role",
        )


def _wrong_state(row: drafts_store.DraftRow, vi: str, en: str) -> DraftError:
    vi_state, en_state = state_name(row.state)
    return DraftError(
        f"Dự thảo số {row.id} đang ở trạng thái '{vi_state}': không thể {vi}; không có gì "
        "thay đổi",
        f"draft {row.id} is {en_state}: it cannot be {en}; nothing was changed",
        step="draft.state",
    )


def _load(conn: Any, office: Office, draft_id: int) -> drafts_store.DraftRow:
    row = drafts_store.get(conn, office.office_id, draft_id)
    if row is None:
        raise DraftError(f"Không có dự thảo số {draft_id}", f"no draft {draft_id}",
                         step="draft.id")
    return row


def _changed(conn: Any, office: Office, by: staff.User, draft_id: int, change: str,
             **facts: Any) -> None:
    audit.append(
        conn,
        office.office_id,
        audit.AuditEvent.DRAFT_CHANGED,
        {"draft_id": draft_id, "change": change, "by": by.username, "by_id": by.id, **facts},
    )


# --- drafts --------------------------------------------------------------------------


def create_draft(
    office: Office,
    by: staff.User,
    form: DraftForm,
    main: Upload | None,
    attachments: Sequence[Upload] = (),
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> int:
    """Store a new draft with its main document and attachments; return its id.

    Every field and file is checked first (DraftError naming the field); then one
    transaction stores the draft, its files and the DRAFT_CHANGED event.
    """
    _require(office, by, _WRITERS, "soạn dự thảo", "write drafts")
    now = office.clock()
    with office.db.read() as conn:
        known = directory_store.names(conn)
    fields = _check_fields(form, known, to_vn_time(now).date())
    checked_main, checked = _check_files(main, attachments, max_file_bytes, main_required=True)
    assert checked_main is not None
    with office.db.transaction() as conn:
        draft_id = drafts_store.add_draft(
            conn,
            office_id=office.office_id,
            fields=fields,
            created_by=by.id,
            files=[checked_main, *(checked or [])],
            now=now,
        )
        _changed(conn, office, by, draft_id, "created", subject=fields["subject"],
                 files=1 + len(checked or []))
    return draft_id


def update_draft(
    office: Office,
    by: staff.User,
    draft_id: int,
    form: DraftForm,
    main: Upload | None = None,
    attachments: Sequence[Upload] | None = None,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> None:
    """Change a draft still being written: its fields, and its main document or its
    attachments when new ones are given (None keeps the stored ones). Refused, with nothing
    changed, once the draft is submitted, approved or issued."""
    _require(office, by, _WRITERS, "sửa dự thảo", "edit drafts")
    now = office.clock()
    with office.db.read() as conn:
        row = _load(conn, office, draft_id)
        known = directory_store.names(conn)
    if row.state is not DraftState.DRAFT:
        raise _wrong_state(row, "sửa", "edited")
    if _COMPOSED in row.fields:
        raise _refuse(
            "yaml_file",
            "Dự thảo này soạn từ tệp kế hoạch/báo cáo (YAML): sửa tệp YAML rồi tải lên lại",
            "this draft was composed from a plan/report file (YAML): correct the YAML and "
            "upload it again",
        )
    fields = _check_fields(form, known, to_vn_time(now).date())
    if row.fields.get("return_note"):
        fields["return_note"] = row.fields["return_note"]
    checked_main, checked = _check_files(main, attachments, max_file_bytes, main_required=False)
    with office.db.transaction() as conn:
        if not drafts_store.set_fields(conn, draft_id, office_id=office.office_id, fields=fields,
                                       allowed_in={DraftState.DRAFT}, now=now):
            raise _wrong_state(_load(conn, office, draft_id), "sửa", "edited")
        drafts_store.replace_files(conn, draft_id, main=checked_main, attachments=checked)
        _changed(conn, office, by, draft_id, "updated", subject=fields["subject"])


# --- drafts from a plan or report written in YAML ------------------------------------

#: The key of a composed draft's fields that holds how it was composed (kind, date, the
#: YAML's file name, whether the YAML goes with the document).
_COMPOSED: Final = "composed"
#: Where a composed draft keeps its YAML: the file after the main PDF. It is the source the
#: PDF is rendered from again at issue; it is sent only when asked for.
_SOURCE_POSITION: Final = 1
_YAML_EXTENSIONS: Final = frozenset({"yaml", "yml"})
#: The key of an approved draft's fields naming who signed its main PDF with his own key
#: (step 1 of the two-step flow); issuing then adds the organisation's signature to that
#: very PDF (step 2) instead of rendering and signing it again.
_SIGNED: Final = "signed_by"


def _yaml_refused(text: str, source: str, loc: tuple[str | int, ...], code: str, vi: str,
                  en: str) -> ContentError:
    """A refusal placed at ``loc``'s line and column in the uploaded YAML."""
    where = locate_in(text, loc, source=source)
    path = where.path or ".".join(str(part) for part in loc)
    return ContentError([dataclasses.replace(where, code=code, path=path, vi=vi, en=en)],
                        source=source)


def _yaml_text(data: bytes, filename: str, *, truncated: bool) -> tuple[str, str]:
    """The uploaded file's (name, text) once its name, size and encoding are checked."""
    name = _nfc(filename)
    if not name:
        raise _refuse("yaml_file", "Chưa chọn tệp kế hoạch/báo cáo (YAML)",
                      "no plan/report file (YAML) was chosen")
    if check_attachment_name(name) is not None or name.startswith("..") or len(name) > 200:
        raise _refuse(
            "yaml_file",
            f"Tên tệp '{name}' không hợp lệ (chứa đường dẫn, ký tự điều khiển hoặc quá dài)",
            f"file name '{name}' is not valid (a path, control characters or too long)",
        )
    kind = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if kind not in _YAML_EXTENSIONS:
        raise _refuse(
            "yaml_file",
            f"Tệp '{name}' không phải tệp kế hoạch/báo cáo YAML (.yaml hoặc .yml)",
            f"file '{name}' is not a plan/report YAML file (.yaml or .yml)",
        )
    if truncated or len(data) > YAML_MAX_BYTES:
        limit = YAML_MAX_BYTES // 1024
        raise _refuse("yaml_file", f"Tệp '{name}' lớn hơn {limit} KiB: đây không phải một kế "
                      "hoạch/báo cáo", f"file '{name}' is larger than {limit} KiB: it is not "
                      "a plan or report")
    if not data.strip():
        raise _refuse("yaml_file", f"Tệp '{name}' rỗng", f"file '{name}' is empty")
    try:
        return name, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(
            [Problem("encoding", "", None, None,
                     f"Tệp không phải văn bản UTF-8 (byte {exc.start}): không phải tệp YAML",
                     f"the file is not UTF-8 text (byte {exc.start}): it is not YAML")],
            source=name,
        ) from None


def _check_content(office: Office, text: str, name: str,
                   known: Mapping[str, str]) -> Plan | Report:
    """The plan or report in ``text``, checked as composing checks it: this office is its
    issuer, every OrganId among its recipients is in the directory, and a number written
    in it is not already used. Every refusal names the YAML's line and field."""
    content = parse(text, source=name)
    if content.issuer.organ_id != office.office_id:
        raise _yaml_refused(
            text, name, ("issuer", "organ_id"), "not-this-office",
            f"Cơ quan ban hành {content.issuer.organ_id} không phải cơ quan này "
            f"({office.office_id})",
            f"the issuer {content.issuer.organ_id} is not this office ({office.office_id})",
        )
    if not known:
        raise _yaml_refused(
            text, name, ("recipients",), "no-directory",
            "Chưa có danh bạ cơ quan: chạy tiến trình nền (edoc daemon run) để tải danh bạ",
            "the organisation directory is empty: run the daemon (edoc daemon run) to fetch it",
        )
    for index, recipient in enumerate(content.recipients):
        if recipient.organ_id is not None and recipient.organ_id not in known:
            raise _yaml_refused(
                text, name, ("recipients", index, "organ_id"), "unknown-recipient",
                f"Nơi nhận {recipient.organ_id} ({recipient.name}) không có trong danh bạ cơ "
                "quan; kiểm tra mã định danh",
                f"recipient {recipient.organ_id} ({recipient.name}) is not in the organisation "
                "directory; check the OrganId",
            )
    if not any(r.organ_id for r in content.recipients):
        raise _yaml_refused(
            text, name, ("recipients",), "no-recipient",
            "Không có nơi nhận nào có mã định danh (organ_id): văn bản không gửi qua trục được",
            "no recipient carries an OrganId (organ_id): the document cannot go over the axis",
        )
    if content.number:
        year = content.date.year
        if int(content.number) in _numbers_taken(office, content.notation, year):
            raise _yaml_refused(
                text, name, ("number",), "number-used",
                f"Số {content.number}/{content.notation} đã được dùng trong năm {year}: xóa "
                "số để lấy số tiếp theo khi phát hành",
                f"number {content.number}/{content.notation} was already used in {year}: "
                "leave it blank to take the next when issuing",
            )
    return content


def _composed_draft(
    office: Office, data: bytes, filename: str, *, attach_source: bool, truncated: bool
) -> tuple[dict[str, Any], list[drafts_store.NewFile]]:
    """A composed draft's fields and files (the unnumbered, unsigned PDF, then the YAML),
    everything checked and rendered before anything is written."""
    name, text = _yaml_text(data, filename, truncated=truncated)
    with office.db.read() as conn:
        known = directory_store.names(conn)
    content = _check_content(office, text, name, known)
    pdf = render_pdf(content)
    # The envelope is built once here, under a stand-in number, so that whatever it
    # refuses is refused now and not when the văn thư issues it.
    to_document(content.model_copy(update={"number": content.number or "1"}),
                directory=known, pdf=pdf, source_yaml=None, now=office.clock())
    doc_type = "ke-hoach" if isinstance(content, Plan) else "bao-cao"
    recipients = list(dict.fromkeys(r.organ_id for r in content.recipients if r.organ_id))
    fields: dict[str, Any] = {
        "doc_type": doc_type,
        "type_name": DOCUMENT_TYPES[doc_type][0],
        "notation": content.notation,
        "subject": content.subject,
        "recipients": recipients,
        "priority": content.urgency.priority,
        "due_date": content.due_date.isoformat() if content.due_date else None,
        "place": content.promulgation_place,
        "signer_competence": content.signer.competence or "",
        "signer_position": content.signer.position,
        "signer_name": content.signer.name,
        _COMPOSED: {
            "kind": content.kind_of.value,
            "date": content.date.isoformat(),
            "number": content.number,
            "source_file": name,
            "attach_source": attach_source,
        },
    }
    files = [
        drafts_store.NewFile(f"{attachment_stem(content)}.pdf", "application/pdf", pdf),
        drafts_store.NewFile(name, "application/yaml", data),
    ]
    return fields, files


def draft_from_yaml(
    office: Office,
    by: staff.User,
    yaml_bytes: bytes,
    filename: str,
    *,
    attach_source: bool = False,
    truncated: bool = False,
) -> int:
    """Store a new draft composed from a plan or report written in YAML; return its id.

    The YAML is read by the compose package's own loader (a refusal names the line, the
    column and the field: ``ke-hoach.yaml: dòng 14, cột 9 ...: subject``) and checked as
    ``edoc compose --queue`` checks it: the issuer is this office, every OrganId among the
    recipients is in the directory, a number written in it is free. The draft's fields
    (type, notation, subject, recipients, urgency, due date, place, signer) come from the
    YAML; its main file is the PDF composing renders, without a number and unsigned; the
    YAML is kept as its second file, the source the PDF is rendered from again.

    Why unsigned and unnumbered: the leader approves the draft's content, and only what he
    approved may be sent. The number is taken from the register when the văn thư issues it
    (:func:`issue_draft`), and a PDF already signed cannot receive it; so the PDF is
    rendered again at issue from the same stored YAML with the number taken, and only then
    signed (PAdES) with the office key, as composing signs it. The issued PDF replaces the
    draft's, so the draft shows what was sent. The YAML goes with the document only when
    ``attach_source`` asks for it (issue 13: a composed plan's source is no longer
    attached by default). ``truncated`` says the upload was cut at its bound.
    """
    _require(office, by, _WRITERS, "soạn dự thảo", "write drafts")
    now = office.clock()
    fields, files = _composed_draft(office, yaml_bytes, filename, attach_source=attach_source,
                                    truncated=truncated)
    with office.db.transaction() as conn:
        draft_id = drafts_store.add_draft(conn, office_id=office.office_id, fields=fields,
                                          created_by=by.id, files=files, now=now)
        _changed(conn, office, by, draft_id, "created", subject=fields["subject"],
                 files=len(files), source="yaml", source_file=files[1].name)
    return draft_id


def replace_draft_yaml(
    office: Office,
    by: staff.User,
    draft_id: int,
    yaml_bytes: bytes,
    filename: str,
    *,
    attach_source: bool = False,
    truncated: bool = False,
) -> None:
    """Replace a composed draft still being written (a returned one, typically) with a
    corrected YAML: its fields and both files, checked as :func:`draft_from_yaml` checks
    them. Refused, with nothing changed, for a draft written from the form or once
    submitted."""
    _require(office, by, _WRITERS, "sửa dự thảo", "edit drafts")
    now = office.clock()
    with office.db.read() as conn:
        row = _load(conn, office, draft_id)
    if row.state is not DraftState.DRAFT:
        raise _wrong_state(row, "sửa", "edited")
    if _COMPOSED not in row.fields:
        raise _refuse("yaml_file", "Dự thảo này soạn từ biểu mẫu: sửa nó bằng biểu mẫu",
                      "this draft was written in the form: edit it with the form")
    fields, files = _composed_draft(office, yaml_bytes, filename, attach_source=attach_source,
                                    truncated=truncated)
    if row.fields.get("return_note"):
        fields["return_note"] = row.fields["return_note"]
    with office.db.transaction() as conn:
        if not drafts_store.set_fields(conn, draft_id, office_id=office.office_id, fields=fields,
                                       allowed_in={DraftState.DRAFT}, now=now):
            raise _wrong_state(_load(conn, office, draft_id), "sửa", "edited")
        drafts_store.replace_files(conn, draft_id, main=files[0], attachments=files[1:])
        _changed(conn, office, by, draft_id, "updated", subject=fields["subject"],
                 source="yaml", source_file=files[1].name)


@dataclass(frozen=True)
class _Source:
    """A composed draft's content read back from its stored YAML, for issuing."""

    content: Plan | Report
    yaml: bytes
    attach: bool


def _source_of(fields: Mapping[str, Any],
               files: Sequence[tuple[drafts_store.DraftFileRow, bytes]]) -> _Source | None:
    """The content a composed draft was approved with; None for a draft from the form."""
    composed = fields.get(_COMPOSED)
    if not isinstance(composed, dict):
        return None
    found = [data for meta, data in files if meta.position == _SOURCE_POSITION]
    if not found:
        raise _refuse("yaml_file", "Dự thảo mất tệp YAML nguồn: tải tệp lên lại",
                      "the draft's YAML source is missing: upload it again")
    content = parse(found[0].decode("utf-8-sig"), source=str(composed.get("source_file")))
    return _Source(content, found[0], bool(composed.get("attach_source")))


def _composed_document(signer: signing.Signer, source: _Source,
                       known: Mapping[str, str], number: int,
                       now: dt.datetime, *, pdf: bytes | None = None,
                       ) -> tuple[edxml.Document, drafts_store.NewFile]:
    """The edXML document of an approved composed draft under ``number``: the PDF rendered
    again with the number and signed with the office key, exactly as composing does
    (``pdf``: the PDF already signed by both, in the two-step flow)."""
    numbered = source.content.model_copy(update={"number": str(number)})
    if pdf is None:
        pdf = render_pdf(numbered, signer=signer)
    document = to_document(numbered, directory=known, pdf=pdf,
                           source_yaml=source.yaml if source.attach else None, now=now)
    return document, drafts_store.NewFile(f"{attachment_stem(numbered)}.pdf",
                                          "application/pdf", pdf)


def _move(
    office: Office,
    by: staff.User,
    draft_id: int,
    *,
    allowed_from: frozenset[DraftState],
    to: DraftState,
    change: str,
    vi: str,
    en: str,
    note: str | None = None,
    unsign: bool = False,
    **values: Any,
) -> None:
    """One guarded state change with its audit event; the state read and the write are
    in one transaction, and the write is a compare-and-set on that state."""
    now = office.clock()
    with office.db.transaction() as conn:
        row = _load(conn, office, draft_id)
        if row.state not in allowed_from:
            raise _wrong_state(row, vi, en)
        if note is not None:  # returned: a signature made on what is returned is void
            kept = {k: v for k, v in row.fields.items() if k != _SIGNED}
            values["fields"] = {**kept, "return_note": note}
        elif change == "submitted":
            values["fields"] = {k: v for k, v in row.fields.items() if k != "return_note"}
        if not drafts_store.move(conn, draft_id, office_id=office.office_id,
                                 allowed_from=allowed_from, to=to, now=now, **values):
            raise _wrong_state(_load(conn, office, draft_id), vi, en)
        if unsign and _SIGNED in row.fields:  # back to the PDF before the leader signed it
            main = drafts_store.file_data(conn, draft_id, 0)
            if main is not None:
                meta, data = main
                drafts_store.replace_files(conn, draft_id, main=drafts_store.NewFile(
                    meta.name, meta.content_type, unsigned_before(data, SIGNER_FIELD)),
                    attachments=None)
        facts: dict[str, Any] = {"from_state": row.state.value, "to_state": to.value}
        if note is not None:
            facts["note"] = note
        _changed(conn, office, by, draft_id, change, **facts)


def submit_draft(office: Office, by: staff.User, draft_id: int) -> None:
    """Send a draft being written to the leaders for approval."""
    _require(office, by, _WRITERS, "trình dự thảo", "submit drafts")
    _move(office, by, draft_id, allowed_from=frozenset({DraftState.DRAFT}),
          to=DraftState.SUBMITTED, change="submitted", vi="trình duyệt", en="submitted")


def approve_draft(office: Office, by: staff.User, draft_id: int) -> None:
    """A leader approves a submitted draft; the văn thư may then issue it.

    A leader with a key of his own (``[signers.NAME]`` with ``user`` his account) signs
    as he approves (step 1 of the two-step flow): a composed draft is rendered again with
    the fields of the signature block and signed with his key and his signature image; a
    draft whose main file is a PDF has that PDF signed. The signed PDF becomes the draft's
    main file, and issuing adds the organisation's signature to it.
    """
    _require(office, by, frozenset({staff.Role.LEADER}), "duyệt dự thảo", "approve drafts")
    person = office.visible.for_user(by.username) if office.visible is not None else None
    if person is not None and _approve_signed(office, by, draft_id, person):
        return
    _move(office, by, draft_id, allowed_from=frozenset({DraftState.SUBMITTED}),
          to=DraftState.APPROVED, change="approved", vi="duyệt", en="approved",
          approved_by=by.id, approved_at=office.clock())


def _approve_signed(office: Office, by: staff.User, draft_id: int, person: Any) -> bool:
    """Approve with the leader's signature on the main PDF; False when the main file is
    no PDF (a DOCX is approved as before, and sent with the office's signature only)."""
    with office.db.read() as conn:
        row = _load(conn, office, draft_id)
        metas = drafts_store.files_of(conn, draft_id)
        files = [found for m in metas
                 if (found := drafts_store.file_data(conn, draft_id, m.position)) is not None]
    if row.state is not DraftState.SUBMITTED:
        raise _wrong_state(row, "duyệt", "approved")
    source = _source_of(row.fields, files)
    assert office.visible is not None
    if source is not None:
        pdf = render_for_signing(office.visible, person, source.content)
        name = f"{attachment_stem(source.content)}.pdf"
    elif files and files[0][0].content_type == "application/pdf":
        pdf, name = files[0][1], files[0][0].name
    else:
        return False
    reason = f"{row.fields.get('type_name', '')}: {row.fields.get('subject', '')}"[:200]
    signed = sign_as(person, pdf, reason=reason)
    now = office.clock()
    marker = {"signer": person.name, "display_name": person.display_name,
              "common_name": person.common_name, "at": now.isoformat()}
    with office.db.transaction() as conn:
        if not drafts_store.move(
            conn, draft_id, office_id=office.office_id, allowed_from={DraftState.SUBMITTED},
            to=DraftState.APPROVED, now=now, approved_by=by.id, approved_at=now,
            fields={**row.fields, _SIGNED: marker},
        ):
            raise _wrong_state(_load(conn, office, draft_id), "duyệt", "approved")
        drafts_store.replace_files(
            conn, draft_id, main=drafts_store.NewFile(name, "application/pdf", signed),
            attachments=None)
        _changed(conn, office, by, draft_id, "approved", from_state=row.state.value,
                 to_state=DraftState.APPROVED.value, signed_by=person.common_name)
    return True


def return_draft(office: Office, by: staff.User, draft_id: int, note: str) -> None:
    """A leader sends a submitted (or approved, not yet issued) draft back to be written
    again, saying why (``note``, required)."""
    _require(office, by, frozenset({staff.Role.LEADER}), "trả lại dự thảo", "return drafts")
    text = _text(note, "note", "lý do trả lại", "reason for returning it", 1000)
    _move(office, by, draft_id,
          allowed_from=frozenset({DraftState.SUBMITTED, DraftState.APPROVED}),
          to=DraftState.DRAFT, change="returned", vi="trả lại", en="returned", note=text,
          unsign=True, approved_by=None, approved_at=None)


# --- issuing -------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """An issued draft: the number the register gave it, its DocumentId, its outbox row."""

    draft_id: int
    number: int
    document_id: str
    outbox_id: int


def _document(
    office: Office,
    fields: Mapping[str, Any],
    files: Sequence[tuple[drafts_store.DraftFileRow, bytes]],
    known: Mapping[str, str],
    number: int | None,
    date: dt.date,
    now: dt.datetime,
) -> edxml.Document:
    """The edXML document of an approved draft under ``number`` (main file first); None
    leaves it unnumbered (a preview), and a recipient ``known`` lacks is named by its
    OrganId (a preview too: a document to queue has every recipient checked first)."""
    sender = office.identity.organization()
    issuer = edxml.OrganId.parse(office.office_id)
    shown = "" if number is None else str(number)
    document_id = str(edxml.DocumentId(issuer, date, shown, fields["notation"]))
    due = fields.get("due_date")
    names = {o: known.get(o, o) for o in fields["recipients"]}
    recipients = [edxml.OrganizationInfo(organ_id=o, organ_name=names[o])
                  for o in fields["recipients"]]
    return edxml.Document(
        sender=sender,
        recipients=recipients,
        document_id=document_id,
        code=edxml.Code(number=shown or None, notation=fields["notation"]),
        promulgation=edxml.PromulgationInfo(place=fields["place"], date=date),
        document_type=edxml.DocumentType(type=TYPE_CODE, type_name=fields["type_name"]),
        subject=fields["subject"],
        signer=edxml.SignerInfo(
            competence=fields.get("signer_competence") or None,
            position=fields["signer_position"],
            full_name=fields["signer_name"],
        ),
        due_date=dt.date.fromisoformat(due) if due else None,
        other_info=edxml.OtherInfo(
            priority=int(fields["priority"]),
            promulgation_amount=1,
            appendixes=[meta.name for meta, _ in files[1:]],
        ),
        to_places=[names[o] for o in fields["recipients"]] + ["Lưu: VT"],
        trace=[edxml.TraceHeader(organ_id=office.office_id, timestamp=now)],
        business=edxml.Bussiness(
            doc_type=edxml.BusinessDocType.NEW, reason="Văn bản điện tử mới", paper=0
        ),
        attachments=[
            edxml.Attachment(
                content_id=f"cid:{index + 1}-{meta.sha256[:16]}",
                name=meta.name,
                content_type=meta.content_type,
                description=(f"{fields['type_name']}: {fields['subject']}"[:500]
                             if index == 0 else None),
                data=data,
            )
            for index, (meta, data) in enumerate(files)
        ],
    )


def _trusted_roots(office: Office) -> list[Any]:
    """The roots the signer's signature is checked under before the office seals it."""
    return list(office.policy.roots) if office.policy is not None else []


def _sealed(office: Office, signer: signing.Signer,
            main: tuple[drafts_store.DraftFileRow, bytes], number: int,
            now: dt.datetime) -> drafts_store.NewFile:
    """Step 2 of the two-step flow on a draft's signed main PDF: the number filled in and
    the organisation's signature (its seal) added in one incremental update."""
    meta, data = main
    pdf = issue_pdf(office.visible, signer, data, number=str(number), when=now,
                    roots=_trusted_roots(office),
                    tsa_roots=office.policy.tsa_roots if office.policy else ())
    return drafts_store.NewFile(meta.name, "application/pdf", pdf)


def _fixed(document_id: str) -> Callable[[int], str]:
    """What the register keeps with the number: the DocumentId signed under it."""
    return lambda _number: document_id


def _number_taken(number: int, notation: str, year: int) -> DraftError:
    return DraftError(
        f"Số {number}/{notation} đã được dùng trong năm {year} (có thể văn thư khác vừa phát "
        "hành): để trống ô số để lấy số tiếp theo, hoặc chọn số khác",
        f"number {number}/{notation} was already used in {year} (another clerk may have just "
        "issued it): leave the number blank to take the next, or choose another",
        step="draft.number",
    )


def _numbers_taken(office: Office, notation: str, year: int) -> set[int]:
    """The numbers of ``notation`` in ``year`` already given: in the outgoing register and
    on documents still queued (composed before the register knew them)."""
    with office.db.read() as conn:
        used = register_store.numbers_taken(conn, office.office_id, notation, year)
        return used | _queued_numbers(conn, office.office_id, notation, year)


def _next_number(office: Office, notation: str, year: int) -> int:
    """The next free number of ``notation`` in ``year`` (taken for real, and checked again,
    in the issuing transaction)."""
    return max(_numbers_taken(office, notation, year), default=0) + 1


def _check_number(number: int) -> None:
    if not 0 < number < 10**11:
        raise _refuse("number", f"Số {number} không hợp lệ", f"number {number} is not valid")


def _can_issue(office: Office, number: int | None) -> signing.Signer:
    """What issuing needs before any work: the office's signing key (returned), and a
    number (when one is given) of the register's range; DraftError naming which
    otherwise."""
    signer = office.signer
    if signer is None:
        raise DraftError(
            "Chưa cấu hình khóa ký số của cơ quan ([signing]): không phát hành được",
            "the office has no signing key ([signing]): nothing can be issued",
            step="draft.signer",
        )
    if number is not None:
        _check_number(number)
    return signer


def issue_draft(
    office: Office, by: staff.User, draft_id: int, *, number: int | None = None
) -> Issued:
    """The văn thư issues an approved draft: it takes ``number`` (or the next free one of
    its notation and year) from the outgoing register, becomes a signed edXML document in
    the outbox, and is marked issued.

    The register's row, the outbox row, the draft's state and the ISSUED event are written
    in one transaction, so a crash leaves either all or none of them: never a number used
    twice, never an issued draft without its outbox row. The document is built and signed
    before that transaction (the write lock is not held while signing) under the number
    that was free when read; if another clerk took it in between, the register's key
    refuses it and the next free number is tried. A ``number`` given that is already used
    is refused (DraftError, step ``draft.number``), as is a draft not approved (any more).
    A draft composed from YAML (:func:`draft_from_yaml`) is rendered again here from its
    stored YAML with the number taken, under the YAML's date, and its PDF signed (PAdES).
    A draft its leader signed as he approved it (the two-step flow) is not rendered again:
    its signed PDF gets the number in its field and the organisation's signature (the
    seal) in one incremental update, after the leader's signature is checked intact.
    """
    _require(office, by, frozenset({staff.Role.CLERK}), "phát hành văn bản", "issue documents")
    signer = _can_issue(office, number)
    now = office.clock()
    date = to_vn_time(now).date()
    with office.db.read() as conn:
        row = _load(conn, office, draft_id)
        metas = drafts_store.files_of(conn, draft_id)
        files = [found for m in metas
                 if (found := drafts_store.file_data(conn, draft_id, m.position)) is not None]
        known = directory_store.names(conn)
    if row.state is not DraftState.APPROVED:
        raise _wrong_state(row, "phát hành", "issued")
    fields = row.fields
    missing = [o for o in fields["recipients"] if o not in known]
    if missing:
        raise _refuse(
            "recipients",
            f"Nơi nhận {', '.join(missing)} không còn trong danh bạ cơ quan: trả lại để sửa",
            f"recipient {', '.join(missing)} is no longer in the organisation directory: "
            "return the draft to correct it",
        )
    source = _source_of(fields, files)
    if source is not None:
        # A composed document carries the date and the number its YAML gives (composing's
        # rule); the clerk's number, when typed, goes first.
        date = source.content.date
        if number is None and source.content.number:
            number = int(source.content.number)
    notation, year = fields["notation"], date.year
    for _ in range(20):
        candidate = number if number is not None else _next_number(office, notation, year)
        issued_pdf: drafts_store.NewFile | None = None
        if _SIGNED in fields:  # step 2: the organisation's signature on the signer's PDF
            issued_pdf = _sealed(office, signer, files[0], candidate, now)
            if source is None:
                sealed = [(files[0][0], issued_pdf.data), *files[1:]]
                document = _document(office, fields, sealed, known, candidate, date, now)
            else:
                document, _ = _composed_document(signer, source, known, candidate, now,
                                                 pdf=issued_pdf.data)
        elif source is None:
            document = _document(office, fields, files, known, candidate, date, now)
        else:
            document, issued_pdf = _composed_document(signer, source, known, candidate, now)
        data = signing.sign(document, signer)
        message = edxml.read(data, strict=True).message
        document_id = str(document.document_id)
        taken_for = _fixed(document_id)
        try:
            with office.db.transaction() as conn:
                register_store.reserve(
                    conn,
                    office_id=office.office_id,
                    notation=notation,
                    year=year,
                    number=candidate,
                    document_id=taken_for,
                    now=now,
                    also_used=_queued_numbers(conn, office.office_id, notation, year),
                )
                outbox_id, _new = queue_within(conn, office, data, message)
                if not drafts_store.move(
                    conn, draft_id, office_id=office.office_id,
                    allowed_from={DraftState.APPROVED}, to=DraftState.ISSUED, now=now,
                    document_id=document_id, outbox_id=outbox_id,
                ):
                    raise _wrong_state(_load(conn, office, draft_id), "phát hành", "issued")
                if issued_pdf is not None:  # the draft keeps what was sent, number and all
                    drafts_store.replace_files(conn, draft_id, main=issued_pdf,
                                               attachments=None)
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.ISSUED,
                    {
                        "draft_id": draft_id,
                        "document_id": document_id,
                        "number": candidate,
                        "notation": notation,
                        "outbox_id": outbox_id,
                        "by": by.username,
                        "by_id": by.id,
                    },
                )
        except register_store.NumberTakenError:
            if number is not None:
                raise _number_taken(number, notation, year) from None
            continue  # another clerk took it between the read and the write: the next
        return Issued(draft_id, candidate, document_id, outbox_id)
    raise DraftError(
        "Không lấy được số văn bản sau nhiều lần thử; thử lại sau",
        "could not take a number after many attempts; try again later",
        step="draft.number",
    )


# --- a document sent at once (edoc send-document, an embedding tool) -----------------

#: The actor the audit log records for ``edoc send-document``: the command line has no web
#: account, so the door and the operating-system account that ran it are named
#: (``cli:<user>``); an embedding tool passes its own name, or a staff account.
CLI_ACTOR: Final = "cli"


@dataclass(frozen=True)
class SentDocument:
    """What :func:`send_document` made: the envelope, and, unless previewed, the number
    the register gave it and its outbox row (``new`` False when those very bytes were
    queued before)."""

    document: edxml.Document
    data: bytes
    number: int | None = None
    outbox_id: int | None = None
    new: bool = False

    @property
    def preview(self) -> bool:
        return self.outbox_id is None


def _actor(office: Office, actor: staff.User | str | None, *, preview: bool) -> dict[str, Any]:
    """Who the audit log names: a staff account (checked: a văn thư issues, anyone who
    writes drafts may preview), or a door's own name (``cli:vanthu``), ``library`` when
    none is given."""
    if isinstance(actor, staff.User):
        if preview:
            _require(office, actor, _WRITERS, "xem trước văn bản", "preview documents")
        else:
            _require(office, actor, frozenset({staff.Role.CLERK}), "phát hành văn bản",
                     "issue documents")
        return {"by": actor.username, "by_id": actor.id}
    name = _nfc(actor or "") or "library"
    if len(name) > 100 or not name.isprintable():
        raise _refuse("actor", "Tên người gửi không hợp lệ", "the actor's name is not valid")
    return {"by": name, "by_id": None}


def _as_stored(files: Sequence[drafts_store.NewFile]
               ) -> list[tuple[drafts_store.DraftFileRow, bytes]]:
    """Checked files as a draft holds them, so one builder makes every envelope."""
    return [
        (drafts_store.DraftFileRow(0, position, f.name, f.content_type, len(f.data),
                                   hashlib.sha256(f.data).hexdigest()), f.data)
        for position, f in enumerate(files)
    ]


def _business(document: edxml.Document, business: edxml.Bussiness | None) -> edxml.Document:
    return document if business is None else document.model_copy(update={"business": business})


def _signed_by_signer(main: tuple[drafts_store.DraftFileRow, bytes]) -> bool:
    """Whether the main file is a PDF its signer signed (``edoc sign-pdf``) and the
    organisation has not sealed yet: sending it is step 2 of the two-step flow."""
    meta, data = main
    if meta.content_type != "application/pdf":
        return False
    from ..compose import ORGANISATION_FIELD, SIGNER_FIELD, field_state

    try:
        state = field_state(data)
    except Exception:  # an unreadable PDF was refused by the file checks already
        return False
    return bool(state.get(SIGNER_FIELD)) and not state.get(ORGANISATION_FIELD)


def send_document(
    office: Office,
    form: DraftForm,
    main: Upload | None,
    attachments: Sequence[Upload] = (),
    *,
    actor: staff.User | str | None = None,
    preview: bool = False,
    number: int | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    business: edxml.Bussiness | None = None,
    within: Callable[[Any, edxml.Document, int], None] | None = None,
) -> SentDocument:
    """Issue a document at once, without the draft's approval path: the fields and the
    files checked as :func:`create_draft` checks them, the number taken from the outgoing
    register (``number``, or the next free one of its notation and year), signed with the
    office key and queued; the register's row, the outbox row and the ISSUED event in one
    transaction, as :func:`issue_draft` writes them. The main file (PDF, or DOCX) goes as
    it is, first, the attachments after it in the order given; a main PDF its signer
    signed with his own key (``edoc sign-pdf``) first receives the number and the
    organisation's signature (step 2 of the two-step flow).

    ``preview`` builds the envelope only: unnumbered, unsigned, nothing written (the
    directory is read for the recipients' names; a recipient it lacks is not refused
    then, only when the document is queued). ``actor`` is whom the audit log names: a
    staff account (a văn thư to issue) or, for a door without accounts, its own name
    (:data:`CLI_ACTOR`). Raises DraftError naming the field (``draft.subject``,
    ``draft.attachments[2]``) with nothing written.

    ``business`` replaces the new document's Bussiness block (a replacement, BussinessDocType
    3, is a document of its own with a number of its own: ``office.lifecycle`` sends it
    here); ``within(conn, document, outbox_id)`` runs in the queueing transaction, so what
    it records (and any error it raises) stands or falls with the outbox row.
    """
    who = _actor(office, actor, preview=preview)
    if not preview:
        _can_issue(office, number)
    elif number is not None:
        _check_number(number)
    now = office.clock()
    date = to_vn_time(now).date()
    with office.db.read() as conn:
        known = directory_store.names(conn)
    fields = _check_fields(form, known, date, check_recipients=not preview)
    checked_main, checked = _check_files(main, attachments, max_file_bytes, main_required=True)
    assert checked_main is not None
    files = _as_stored([checked_main, *(checked or [])])
    if preview:
        document = _business(_document(office, fields, files, known, None, date, now), business)
        return SentDocument(document, write_unnumbered(document))
    assert office.signer is not None
    signed_first = _signed_by_signer(files[0])
    notation, year = fields["notation"], date.year
    for _ in range(20):
        candidate = number if number is not None else _next_number(office, notation, year)
        sent = files
        if signed_first:  # step 2: the organisation's signature on the signer's PDF
            sealed = _sealed(office, office.signer, files[0], candidate, now)
            sent = _as_stored([sealed, *(checked or [])])
        document = _business(
            _document(office, fields, sent, known, candidate, date, now), business
        )
        data = signing.sign(document, office.signer)
        message = edxml.read(data, strict=True).message
        document_id = str(document.document_id)
        try:
            with office.db.transaction() as conn:
                register_store.reserve(
                    conn, office_id=office.office_id, notation=notation, year=year,
                    number=candidate, document_id=_fixed(document_id), now=now,
                    also_used=_queued_numbers(conn, office.office_id, notation, year),
                )
                outbox_id, new = queue_within(conn, office, data, message)
                audit.append(
                    conn,
                    office.office_id,
                    audit.AuditEvent.ISSUED,
                    {
                        "draft_id": None,
                        "document_id": document_id,
                        "number": candidate,
                        "notation": notation,
                        "outbox_id": outbox_id,
                        "files": [{"name": m.name, "sha256": m.sha256} for m, _d in sent],
                        **who,
                    },
                )
                if within is not None:
                    within(conn, document, outbox_id)
        except register_store.NumberTakenError:
            if number is not None:
                raise _number_taken(number, notation, year) from None
            continue  # taken by another process between the read and the write: the next
        return SentDocument(document, data, candidate, outbox_id, new)
    raise DraftError(
        "Không lấy được số văn bản sau nhiều lần thử; thử lại sau",
        "could not take a number after many attempts; try again later",
        step="draft.number",
    )


# --- reading drafts ------------------------------------------------------------------


@dataclass(frozen=True)
class DraftSummary:
    """A draft as the list shows it."""

    id: int
    state: DraftState
    fields: dict[str, Any]
    created_by: str
    updated_at: dt.datetime
    document_id: str | None

    @property
    def state_name(self) -> tuple[str, str]:
        return state_name(self.state)


@dataclass(frozen=True)
class DraftDetails:
    """A draft with its files (without their bytes) and who wrote and approved it."""

    id: int
    state: DraftState
    fields: dict[str, Any]
    files: list[drafts_store.DraftFileRow]
    created_by: str
    approved_by: str | None
    approved_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    document_id: str | None
    outbox_id: int | None
    #: OrganId -> name, for the recipients.
    recipient_names: dict[str, str] = field(default_factory=dict)

    @property
    def state_name(self) -> tuple[str, str]:
        return state_name(self.state)


def _names(office: Office) -> dict[int, str]:
    return {u.id: u.full_name for u in staff.list_users(office.db, office.office_id)}


def list_drafts(
    office: Office, *, state: DraftState | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[DraftSummary], dict[DraftState, int]]:
    """The office's drafts (of ``state``), the latest changed first, and how many are in
    each state."""
    names = _names(office)
    with office.db.read() as conn:
        rows = drafts_store.list_drafts(conn, office.office_id,
                                        states=[state] if state else None,
                                        limit=limit, offset=offset)
        counts = drafts_store.count_by_state(conn, office.office_id)
    return [
        DraftSummary(r.id, r.state, r.fields, names.get(r.created_by, "?"), r.updated_at,
                     r.document_id)
        for r in rows
    ], counts


def draft_details(office: Office, draft_id: int) -> DraftDetails:
    """One draft of the office; DraftError when there is none."""
    names = _names(office)
    with office.db.read() as conn:
        row = _load(conn, office, draft_id)
        files = drafts_store.files_of(conn, draft_id)
        known = directory_store.names(conn)
    return DraftDetails(
        row.id, row.state, row.fields, files, names.get(row.created_by, "?"),
        names.get(row.approved_by) if row.approved_by is not None else None,
        row.approved_at, row.created_at, row.updated_at, row.document_id, row.outbox_id,
        {o: known.get(o, o) for o in row.fields.get("recipients", [])},
    )


def draft_file(office: Office, draft_id: int, position: int) -> tuple[str, str, bytes]:
    """One file of a draft: (name, content type, bytes); DraftError when there is none."""
    with office.db.read() as conn:
        _load(conn, office, draft_id)
        found = drafts_store.file_data(conn, draft_id, position)
    if found is None:
        raise DraftError(f"Dự thảo {draft_id} không có tệp số {position}",
                         f"draft {draft_id} has no file {position}", step="draft.file")
    meta, data = found
    return meta.name, meta.content_type, data


def recipient_choices(office: Office, query: str = "", limit: int = 200) -> list[tuple[str, str]]:
    """(OrganId, name) of the directory's organisations matching ``query`` (accent-free:
    "bac ha" finds "Bắc Hà"; or part of the OrganId), by name."""
    with office.db.read() as conn:
        known = directory_store.names(conn)
    wanted = fold(query)
    found = [
        (organ, name) for organ, name in known.items()
        if not wanted or wanted in fold(name) or wanted in organ.lower()
    ]
    found.sort(key=lambda pair: (fold(pair[1]), pair[0]))
    return found[:limit]


# --- the sent list -------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientState:
    """Where one recipient is with a sent document, in words."""

    organ_id: str
    name: str
    status_code: str | None
    #: (Vietnamese, English) of the status: the code's name, or how far the axis got.
    label: tuple[str, str]
    #: The recipient's reason, for a refusal (02).
    reason: str | None = None

    @property
    def final(self) -> bool:
        return self.status_code in FINAL_STATUSES

    @property
    def refused(self) -> bool:
        return self.status_code == edxml.StatusCode.REJECTED.value


@dataclass(frozen=True)
class SentItem:
    """One outgoing document of the sent list."""

    summary: outbox_store.SentSummary
    recipients: list[RecipientState]
    #: What is stuck and why, (Vietnamese, English); None when nothing is.
    stuck: tuple[str, str] | None

    @property
    def state_name(self) -> tuple[str, str]:
        return _OUTBOX_STATES[self.summary.state]

    @property
    def resendable(self) -> bool:
        return self.summary.state is OutboxState.FAILED


@dataclass(frozen=True)
class SentPage:
    """A page of the sent list."""

    items: list[SentItem]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class SentDetails:
    """One sent document with its recipients and every status they sent back."""

    item: SentItem
    history: list[dict[str, Any]]
    #: The draft it was issued from, when it was issued here.
    draft_id: int | None = None


_OUTBOX_STATES: Final[dict[OutboxState, tuple[str, str]]] = {
    OutboxState.QUEUED: ("Chờ gửi", "queued"),
    OutboxState.SENDING: ("Đang gửi", "sending"),
    OutboxState.SENT: ("Đã gửi", "sent"),
    OutboxState.FAILED: ("Gửi lỗi", "failed"),
}
def outbox_state_name(state: OutboxState) -> tuple[str, str]:
    """How a person calls an outgoing document's sending state (Vietnamese, English)."""
    return _OUTBOX_STATES[state]


#: A document queued but never tried for this long means no daemon is sending.
_WAITING_TOO_LONG: Final = dt.timedelta(minutes=15)


def _when(value: dt.datetime) -> str:
    return f"{to_vn_time(value):%d/%m/%Y %H:%M}"


def _stuck(office: Office, s: outbox_store.SentSummary, codes: Mapping[str, str | None],
           now: dt.datetime) -> tuple[str, str] | None:
    """What holds a document up, in words a clerk acts on; None when nothing does."""
    error = (s.last_error or "")[:300]
    if s.state is OutboxState.FAILED:
        return (
            f"Trục từ chối văn bản: {error}. Sửa nguyên nhân rồi bấm 'Gửi lại'",
            f"the axis refused the document: {error}. Correct the cause, then press 'Resend'",
        )
    if s.state is OutboxState.QUEUED and s.attempts > 0:
        return (
            f"Gửi chưa được sau {s.attempts} lần thử; sẽ thử lại lúc {_when(s.next_attempt_at)}. "
            f"Lỗi gần nhất: {error}",
            f"not sent after {s.attempts} attempts; tried again at {_when(s.next_attempt_at)}. "
            f"Last error: {error}",
        )
    if s.state is OutboxState.QUEUED and now - s.created_at > _WAITING_TOO_LONG:
        return (
            f"Đang chờ gửi từ {_when(s.created_at)}: kiểm tra tiến trình nền (edoc daemon run) "
            "có đang chạy không",
            f"waiting to be sent since {_when(s.created_at)}: check that the daemon "
            "(edoc daemon run) is running",
        )
    if s.state is OutboxState.SENDING:
        alive = s.heartbeat_at or s.updated_at
        if now - alive > office.stale_after:
            return (
                f"Đang gửi quá lâu (tín hiệu cuối lúc {_when(alive)}): tiến trình gửi có thể đã "
                "dừng; văn bản sẽ được gửi lại tự động",
                f"sending for too long (last sign of life at {_when(alive)}): the sending "
                "process may have stopped; the document will be sent again by itself",
            )
    if s.state is OutboxState.SENT and s.follow_stopped_at is not None:
        waiting = sorted(o for o in s.recipients if codes.get(o) not in FINAL_STATUSES)
        return (
            f"Đã ngừng hỏi trục về văn bản này từ {_when(s.follow_stopped_at)} (quá hạn theo "
            f"dõi); chưa hoàn thành: {', '.join(waiting) or 'không'}. Trạng thái đến sau vẫn "
            "được ghi nhận",
            f"the axis is no longer asked about it since {_when(s.follow_stopped_at)} (past "
            f"the following horizon); not finished: {', '.join(waiting) or 'none'}. Statuses "
            "that arrive are still recorded",
        )
    return None


def _recipient_state(organ: str, name: str, row: Mapping[str, Any] | None,
                     reason: str | None) -> RecipientState:
    code = row.get("status_code") if row else None
    known = edxml.StatusCode.known(code)
    if known is not None:
        label = (f"{known.value} {known.vi}", f"{known.value} {known.en}")
    elif code:
        label = (f"Mã {code}", f"code {code}")
    elif row and row.get("send_status"):
        label = ("Đã lên trục, chưa có trạng thái", "on the axis, no status yet")
    else:
        label = ("Chưa gửi", "not sent yet")
    refused = code == edxml.StatusCode.REJECTED
    return RecipientState(organ, name, code, label, reason if refused else None)


def _item(office: Office, s: outbox_store.SentSummary, rows: list[dict[str, Any]],
          known: Mapping[str, str], now: dt.datetime,
          reasons: Mapping[str, str] | None = None) -> SentItem:
    by_organ = {str(r["organ_id"]): r for r in rows}
    codes = {o: r.get("status_code") for o, r in by_organ.items()}
    recipients = [
        _recipient_state(o, known.get(o, o), by_organ.get(o), (reasons or {}).get(o))
        for o in s.recipients
    ]
    return SentItem(s, recipients, _stuck(office, s, codes, now))


def _read_only(office: Office, by: staff.User) -> None:
    if by.office_id != office.office_id or by.disabled:
        raise DraftError(f"Tài khoản {by.username} không thuộc cơ quan này",
                         f"account {by.username} is not of this office", step="outgoing.role")


def sent_list(
    office: Office,
    by: staff.User,
    *,
    state: OutboxState | None = None,
    page: int = 1,
    page_size: int = 50,
) -> SentPage:
    """A page of the office's outgoing documents, the latest first, with each recipient's
    status and what is stuck (four queries, whatever the page holds)."""
    _read_only(office, by)
    page = max(1, page)
    states = [state] if state is not None else None
    now = office.clock()
    with office.db.read() as conn:
        rows = outbox_store.list_sent(conn, office.office_id, states=states,
                                      limit=page_size, offset=(page - 1) * page_size)
        total = outbox_store.count_sent(conn, office.office_id, states=states)
        recipients = outbox_store.recipients_of_many(conn, [r.id for r in rows])
        known = directory_store.names(conn)
    items = [_item(office, r, recipients[r.id], known, now) for r in rows]
    return SentPage(items, total, page, page_size)


def sent_details(office: Office, by: staff.User, outbox_id: int) -> SentDetails:
    """One outgoing document: its recipients' statuses (with a refusal's reason) and the
    status history; DraftError when the office has no such document."""
    _read_only(office, by)
    now = office.clock()
    with office.db.read() as conn:
        summary = outbox_store.sent_summary(conn, office.office_id, outbox_id)
        if summary is None:
            raise DraftError(f"Không có văn bản đi số {outbox_id}",
                             f"no outgoing document {outbox_id}", step="outgoing.id")
        rows = outbox_store.recipients_of(conn, outbox_id)
        history = inbox_store.status_history_of(
            conn, office.office_id, summary.document_id, answers_from=summary.recipients
        )
        known = directory_store.names(conn)
    reasons: dict[str, str] = {}
    for entry in history:
        if entry["direction"] == "in" and entry["status_code"] == edxml.StatusCode.REJECTED:
            reasons[str(entry["counterpart"])] = str(entry.get("description") or "")
    for entry in history:
        entry["counterpart_name"] = known.get(str(entry["counterpart"]), entry["counterpart"])
        code = edxml.StatusCode.known(entry["status_code"])
        entry["status_name"] = (code.vi, code.en) if code else (entry["status_code"],) * 2
    return SentDetails(_item(office, summary, rows, known, now, reasons), history)


def resend(office: Office, by: staff.User, outbox_id: int) -> None:
    """Queue a failed document again (due now, attempts counted afresh); the same signed
    bytes go, so the axis de-duplicates them. Only the văn thư or a lãnh đạo; refused with
    nothing changed when the document is not failed (any more)."""
    _require(office, by, frozenset({staff.Role.CLERK, staff.Role.LEADER}),
             "gửi lại văn bản", "resend documents")
    now = office.clock()
    with office.db.transaction() as conn:
        summary = outbox_store.sent_summary(conn, office.office_id, outbox_id)
        if summary is None:
            raise DraftError(f"Không có văn bản đi số {outbox_id}",
                             f"no outgoing document {outbox_id}", step="outgoing.id")
        if not outbox_store.requeue_failed(conn, outbox_id, office_id=office.office_id, now=now):
            vi_state, en_state = _OUTBOX_STATES[summary.state]
            raise DraftError(
                f"Văn bản đang ở trạng thái '{vi_state}': chỉ gửi lại được văn bản gửi lỗi",
                f"the document is {en_state}: only a failed one can be resent",
                step="outgoing.state",
            )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.RESENT,
            {
                "outbox_id": outbox_id,
                "document_id": summary.document_id,
                "previous_error": (summary.last_error or "")[:500],
                "attempts": summary.attempts,
                "by": by.username,
                "by_id": by.id,
            },
        )

