"""The audit page: the office's log as a timeline in words, whether it verifies, and the
export an inspector verifies offline; and one document's timeline.

Who sees what: the whole log (every sign-in, every account change, every document) is for
lãnh đạo and quản trị; a văn thư sees the timeline of one document at a time (what they
handle), not the office's log; a chuyên viên sees neither (their documents' history is on
the document's own page).

Each entry becomes one sentence in the visitor's language naming who did what to which
document, with organisations and staff by name; an event this page does not know is still
shown (its name and data), never dropped: the page must not hide what the log holds.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from .. import office as steps
from .. import reports
from ..edxml import StatusCode
from ..office import staff
from ..vntime import VN_TZ
from . import _i18n
from ._app import call, context, language, page, render

__all__ = ["TimelineLine", "routes", "sentence"]

_i18n.add({
    "audit.title": ("Nhật ký hoạt động", "Activity log"),
    "audit.document_title": ("Diễn biến của văn bản", "History of a document"),
    "audit.status": ("Tình trạng nhật ký", "State of the log"),
    "audit.intact": (
        "Nhật ký nguyên vẹn: chuỗi băm và mọi điểm kiểm tra đã ký đều khớp",
        "The log is intact: the hash chain and every signed checkpoint verify",
    ),
    "audit.broken": ("Nhật ký KHÔNG nguyên vẹn", "The log is NOT intact"),
    "audit.broken_at": ("Sai từ mục số", "Wrong from entry"),
    "audit.unchecked": ("Không kiểm tra được nhật ký", "The log could not be checked"),
    "audit.entries": ("Số mục", "Entries"),
    "audit.last_checkpoint": ("Điểm kiểm tra đã ký gần nhất", "Last signed checkpoint"),
    "audit.checkpoint_of": ("mục, lúc", "entries, at"),
    "audit.no_checkpoint": ("chưa có", "none yet"),
    "audit.uncovered": ("Mục sau điểm kiểm tra cuối", "Entries after the last checkpoint"),
    "audit.export": ("Tải tệp xuất cho thanh tra", "Download the export for an inspector"),
    "audit.export_note": (
        "Tệp JSON lines kết thúc bằng một điểm kiểm tra ký ngay lúc tải; thanh tra kiểm tra "
        "ngoại tuyến bằng: edoc audit verify --file TỆP --cert CHỨNG_THƯ",
        "JSON lines ending with a checkpoint signed when downloaded; an inspector verifies "
        "it offline with: edoc audit verify --file FILE --cert CERTIFICATE",
    ),
    "audit.when": ("Thời gian", "When"),
    "audit.what": ("Sự việc", "What happened"),
    "audit.seq": ("Mục", "Entry"),
    "audit.document": ("Văn bản", "Document"),
    "audit.document_id": ("Mã văn bản (DocumentId)", "DocumentId"),
    "audit.show": ("Xem", "Show"),
    "audit.no_entries": (
        "Nhật ký không có mục nào về văn bản này", "the log holds no entry about this document"
    ),
    "audit.empty": ("Nhật ký chưa có mục nào", "the log holds no entry yet"),
})

_DOCUMENT_ID_MAX = 200
_SYSTEM = ("Hệ thống", "The system")


@dataclass(frozen=True)
class TimelineLine:
    """One entry as the page shows it."""

    seq: int
    when: str
    text: str
    document_id: str | None


@dataclass(frozen=True)
class _Names:
    """Organisations and staff by name (codes and user names shown when unknown)."""

    organisations: Mapping[str, str]
    people: Mapping[str, str]

    def org(self, code: Any) -> str:
        text = str(code or "")
        return self.organisations.get(text, text) or "?"

    def orgs(self, codes: Any) -> str:
        if isinstance(codes, list):
            return ", ".join(self.org(c) for c in codes) or "?"
        return self.org(codes)

    def person(self, who: Any) -> str:
        text = str(who)
        return self.people.get(text, text)


def _status(code: Any, lang: str) -> str:
    known = StatusCode.known(str(code) if code is not None else None)
    if known is None:
        return str(code)
    return f"{known.value} ({known.en if lang == 'en' else known.vi})"


def _who(data: Mapping[str, Any], names: _Names) -> tuple[str, str] | None:
    # Who acted; never "username", which names the account an event is about.
    for key in ("by", "by_user", "user", "actor", "staff"):
        value = data.get(key)
        if value not in (None, ""):
            person = names.person(value)
            return person, person
    return None


def sentence(event: str, data: Mapping[str, Any], names: _Names, lang: str) -> str:
    """One log entry in words, in ``lang`` (vi or en)."""
    doc = str(data.get("document_id") or data.get("axis_doc_id") or "?")
    who = _who(data, names) or _SYSTEM
    w = who[1] if lang == "en" else who[0]
    to = names.orgs(data.get("to"))
    frm = names.org(data.get("from"))
    status = _status(data.get("status_code"), lang)
    said: dict[str, tuple[str, str]] = {
        "composed": (f"{w} soạn văn bản {doc}", f"{w} composed document {doc}"),
        "signed": (
            f"Văn bản {doc} được ký số ({data.get('signer') or '?'})",
            f"document {doc} was signed ({data.get('signer') or '?'})",
        ),
        "queued": (
            f"Trạng thái {status} của văn bản {doc} chờ gửi tới {to}"
            if data.get("kind") == "status"
            else f"Văn bản {doc} chờ gửi tới {to}",
            f"status {status} of document {doc} queued for {to}"
            if data.get("kind") == "status"
            else f"document {doc} queued for {to}",
        ),
        "sent": (
            f"Đã gửi văn bản {doc} lên trục tới {to}",
            f"document {doc} sent through the axis to {to}",
        ),
        "send_failed": (
            f"Gửi {doc} không thành công"
            + (" (cần người xử lý)" if data.get("permanent") else " (sẽ thử lại)")
            + f": {data.get('error') or data.get('reason') or ''}",
            f"sending {doc} failed"
            + (" (a person must act)" if data.get("permanent") else " (will be retried)")
            + f": {data.get('error') or data.get('reason') or ''}",
        ),
        "received": (f"Nhận văn bản {doc} từ {frm}", f"received document {doc} from {frm}"),
        "verified": (
            f"Chữ ký số của văn bản {doc} hợp lệ ({data.get('signer') or '?'})",
            f"the signature of document {doc} is valid ({data.get('signer') or '?'})",
        ),
        "rejected": (
            f"Từ chối văn bản {doc} từ {frm}: {data.get('reason') or ''}",
            f"refused document {doc} from {frm}: {data.get('reason') or ''}",
        ),
        "acknowledged": (
            f"Đã báo trục: nhận {doc} "
            + ("thành công" if data.get("status") == "done" else "không thành công"),
            f"told the axis: {doc} "
            + ("received" if data.get("status") == "done" else "not received"),
        ),
        "status_sent": (
            f"Đã gửi trạng thái {status} của văn bản {doc} tới {to}",
            f"sent status {status} of document {doc} to {to}",
        ),
        "status_received": (
            f"{frm} báo trạng thái {status} cho văn bản {doc}",
            f"{frm} reported status {status} for document {doc}",
        ),
        "clerk_action": (
            f"{w} chuyển văn bản {doc} sang {_status(data.get('to_state'), 'vi')}"
            + (f" — {data['note']}" if data.get("note") else ""),
            f"{w} moved document {doc} to {_status(data.get('to_state'), 'en')}"
            + (f" — {data['note']}" if data.get("note") else ""),
        ),
        "key_changed": ("Khóa ký của cơ quan được thay đổi", "the office's signing key changed"),
        "config_changed": ("Cấu hình được thay đổi", "the configuration changed"),
        "follow_stopped": (
            f"Ngừng hỏi trục về văn bản {doc} (quá thời hạn theo dõi)",
            f"stopped asking the axis about document {doc} (past the following horizon)",
        ),
        "signed_in": (
            f"{names.person(data.get('username'))} đăng nhập",
            f"{names.person(data.get('username'))} signed in",
        ),
        "sign_in_refused": (
            f"Từ chối đăng nhập của {names.person(data.get('username'))}",
            f"sign-in of {names.person(data.get('username'))} refused",
        ),
        "signed_out": (
            f"{names.person(data.get('username'))} đăng xuất",
            f"{names.person(data.get('username'))} signed out",
        ),
        "account_changed": _account(data, names, w),
        "registered": (
            f"{w} vào sổ văn bản đến {doc}, số {data.get('number') or '?'}",
            f"{w} registered incoming document {doc} as number {data.get('number') or '?'}",
        ),
        "assigned": (
            f"{w} phân công văn bản {doc} cho {names.person(data.get('assignee') or '?')}"
            + (f", hạn {data['deadline']}" if data.get("deadline") else ""),
            f"{w} assigned document {doc} to {names.person(data.get('assignee') or '?')}"
            + (f", due {data['deadline']}" if data.get("deadline") else ""),
        ),
        "draft_changed": (
            f"{w} {data.get('change') or 'sửa'} dự thảo số {data.get('draft_id') or '?'}",
            f"{w} {data.get('change') or 'changed'} draft {data.get('draft_id') or '?'}",
        ),
        "issued": (
            f"{w} phát hành văn bản {doc}", f"{w} issued document {doc}",
        ),
        "resent": (f"{w} gửi lại {doc}", f"{w} sent {doc} again"),
    }
    pair = said.get(event)
    if pair is None:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(data.items()))
        return f"{event}: {shown}"
    return pair[1] if lang == "en" else pair[0]


def _account(data: Mapping[str, Any], names: _Names, who: str) -> tuple[str, str]:
    user = names.person(data.get("username") or "?")
    change = str(data.get("change") or "")
    role = data.get("role")
    vi = {
        "added": f"{who} thêm tài khoản {user}",
        "password": f"{who} đặt mật khẩu mới cho {user}",
        "disabled": f"{who} khóa tài khoản {user}",
        "enabled": f"{who} mở khóa tài khoản {user}",
        "role": f"{who} đổi vai trò của {user}",
    }.get(change, f"{who} thay đổi tài khoản {user}")
    en = {
        "added": f"{who} added the account {user}",
        "password": f"{who} set a new password for {user}",
        "disabled": f"{who} disabled the account {user}",
        "enabled": f"{who} enabled the account {user}",
        "role": f"{who} changed the role of {user}",
    }.get(change, f"{who} changed the account {user}")
    if role:
        names_of = {r.value: n for r, n in staff.ROLE_NAMES.items()}
        vi_role, en_role = names_of.get(str(role), (str(role), str(role)))
        vi, en = f"{vi} ({vi_role})", f"{en} ({en_role})"
    return vi, en


def _names(office: steps.Office) -> _Names:
    organisations = dict(reports.organisation_names(office.db))
    organisations[office.office_id] = office.identity.organ_name
    people: dict[str, str] = {}
    for user in staff.list_users(office.db, office.office_id):
        people[user.username] = user.full_name
        people[str(user.id)] = user.full_name
    return _Names(organisations, people)


def _when(value: dt.datetime) -> str:
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M:%S")


def _when_text(text: str | None) -> str | None:
    """An entry's or checkpoint's ISO time (UTC, ``Z``) in Vietnam time; as given if odd."""
    if not text:
        return None
    try:
        return _when(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


def _lines(lines: list[steps.LogLine], names: _Names, lang: str) -> list[TimelineLine]:
    return [
        TimelineLine(
            line.seq,
            _when(line.time),
            sentence(line.event, line.data, names, lang),
            str(line.data["document_id"]) if line.data.get("document_id") else None,
        )
        for line in lines
    ]


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < len(text) < 9 else 1


@page(staff.Role.LEADER, staff.Role.ADMIN)
async def audit_log(request: Request) -> Response:
    office = context(request).office
    per_page = context(request).settings.page_size
    lang = language(request)

    def gather() -> tuple[steps.LogStatus, steps.LogPage, list[TimelineLine]]:
        status = steps.log_status(office)
        found = steps.log_timeline(office, page=_page_number(request), per_page=per_page)
        return status, found, _lines(found.lines, _names(office), lang)

    status, found, lines = await call(gather)
    return render(
        request, "audit.html", status=status, log=found, lines=lines,
        checkpoint_time=_when_text(status.last_checkpoint_time),
    )


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := handle.read(64 * 1024):
            yield chunk
    finally:
        handle.close()


@page(staff.Role.LEADER, staff.Role.ADMIN)
async def audit_export(request: Request) -> Response:
    """The export, built in a temporary file (never whole in memory) and streamed.

    A GET although it signs a checkpoint first (as ``edoc audit export`` does): that write
    only adds a signature over what the log already holds, so a forged link can cause
    nothing worse than one more checkpoint.
    """
    office = context(request).office

    def build() -> IO[bytes]:
        handle = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the streaming response)
        try:
            with open(handle.fileno(), "w", encoding="utf-8", closefd=False) as text:
                steps.export_audit_log(office, text)
            handle.seek(0)
        except BaseException:
            handle.close()
            raise
        return handle

    handle = await call(build)
    stamp = dt.datetime.now(VN_TZ).strftime("%Y%m%d-%H%M%S")
    name = _safe_filename(f"nhat-ky-{office.office_id}-{stamp}.jsonl")
    return StreamingResponse(
        _chunks(handle),
        media_type="application/x-ndjson; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def _safe_filename(name: str) -> str:
    """Only letters, digits, dot, dash and underscore: no quote, slash or header trick."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class _BadDocumentIdError(Exception):
    pass


def _document_id(request: Request) -> str | None:
    raw = request.query_params.get("document_id")
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw).strip()
    if not text or len(text) > _DOCUMENT_ID_MAX or any(
        unicodedata.category(c) in ("Cc", "Cf") for c in text
    ):
        raise _BadDocumentIdError
    return text


@page(staff.Role.LEADER, staff.Role.ADMIN, staff.Role.CLERK)
async def document_log(request: Request) -> Response:
    office = context(request).office
    lang = language(request)
    try:
        document_id = _document_id(request)
    except _BadDocumentIdError:
        return render(
            request, "audit_document.html", status_code=400, document_id="", lines=[],
            message=_i18n.both(
                f"Mã văn bản không hợp lệ (không để trống, tối đa {_DOCUMENT_ID_MAX} ký tự)",
                f"not a valid DocumentId (required, at most {_DOCUMENT_ID_MAX} characters)",
                lang,
            ),
        )
    lines: list[TimelineLine] = []
    if document_id is not None:
        wanted = document_id

        def find() -> list[TimelineLine]:
            return _lines(steps.document_timeline(office, wanted), _names(office), lang)

        lines = await call(find)
    return render(
        request, "audit_document.html", document_id=document_id or "", lines=lines,
        message=None,
    )


routes: list[BaseRoute] = [
    Route("/audit", audit_log, methods=["GET"]),
    Route("/audit/export", audit_export, methods=["GET"]),
    Route("/audit/document", document_log, methods=["GET"]),
]
