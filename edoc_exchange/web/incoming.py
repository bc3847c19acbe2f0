"""The incoming documents' pages: the list (filters, search, paging), a document's detail
with its PDF shown in the page and every file downloadable, and the actions (vào sổ, phân
công, đang xử lý, hoàn thành, từ chối), each a plain form that POSTs and comes back to the
detail with what was done.

Files are served as downloads (``Content-Disposition: attachment``), a PDF inline only
when the page's frame asks for it; a stored type that a browser would run (HTML, SVG, XML,
scripts) is never served as itself. Who may see and do what is
:mod:`edoc_exchange.office.incoming`'s role matrix; this module only asks.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import edxml
from ..office import incoming, lifecycle, staff
from . import _i18n
from ._app import call, context, forbidden, form_of, not_found, page, render

_S = edxml.StatusCode


def _button(code: edxml.StatusCode) -> tuple[str, str]:
    """A button's words: the status's own name and its code."""
    return f"{code.vi} ({code.value})", f"{code.en.capitalize()} ({code.value})"


_i18n.add(
    {
        "incoming.title": ("Văn bản đến", "Incoming documents"),
        "incoming.subject": ("Trích yếu", "Subject"),
        "incoming.sender": ("Nơi gửi", "Sender"),
        "incoming.code": ("Số/ký hiệu", "Number/notation"),
        "incoming.type": ("Loại", "Type"),
        "incoming.received": ("Ngày đến", "Received"),
        "incoming.due": ("Hạn xử lý", "Due"),
        "incoming.priority": ("Độ khẩn", "Urgency"),
        "incoming.state": ("Trạng thái", "State"),
        "incoming.number": ("Số đến", "Register no."),
        "incoming.assignee": ("Người xử lý", "Handled by"),
        "incoming.all_states": ("Mọi trạng thái", "Any state"),
        "incoming.any_due": ("Mọi hạn", "Any due date"),
        "incoming.due_open": ("Có hạn, chưa xong", "Due, still open"),
        "incoming.overdue": ("Quá hạn", "Overdue"),
        "incoming.mine": ("Giao cho tôi", "Assigned to me"),
        "incoming.from": ("Từ ngày", "From"),
        "incoming.to": ("Đến ngày", "To"),
        "incoming.search_hint": ("trích yếu, nơi gửi, số/ký hiệu", "subject, sender, number"),
        "incoming.total": ("văn bản", "documents"),
        "incoming.empty": ("Không có văn bản nào", "No documents"),
        "incoming.new": ("Mới", "New"),
        "incoming.not_verified": ("Không xác thực được", "Not verified"),
        "incoming.header": ("Thông tin văn bản", "Document"),
        "incoming.document_id": ("Mã văn bản", "Document ID"),
        "incoming.promulgation": ("Nơi, ngày ban hành", "Place and date"),
        "incoming.signer": ("Người ký", "Signed by"),
        "incoming.recipients": ("Nơi nhận", "Recipients"),
        "incoming.signature": ("Chữ ký số", "Digital signature"),
        "incoming.sig_valid": ("Hợp lệ", "Valid"),
        "incoming.sig_invalid": ("Không hợp lệ", "Not valid"),
        "incoming.sig_who": ("Chứng thư của", "Certificate of"),
        "incoming.sig_issuer": ("Cấp bởi", "Issued by"),
        "incoming.sig_when": ("Thời điểm ký", "Signed at"),
        "incoming.sig_why": ("Lý do", "Reason"),
        "incoming.sig_proven": ("Thời điểm ký được chứng thực (dấu thời gian)",
                                "Signing time proven (timestamp)"),
        "incoming.sig_stamp_untrusted": ("Có dấu thời gian nhưng máy chủ cấp không được tin "
                                         "cậy: thời điểm chưa được chứng thực",
                                         "timestamped by a TSA not trusted: time not proven"),
        "incoming.identity": ("Lưu ý về mã văn bản", "About the document ID"),
        "incoming.pdf_signatures": ("Chữ ký trên tệp PDF", "Signatures on the PDF files"),
        "incoming.pdf.valid": ("✔ Chữ ký hợp lệ", "✔ valid signature"),
        "incoming.pdf.invalid": ("✘ Chữ ký không hợp lệ", "✘ invalid signature"),
        "incoming.pdf.untrusted": ("✘ Người ký không được tin cậy", "✘ signer not trusted"),
        "incoming.pdf.revoked": (
            "✘ Chứng thư số người ký đã bị thu hồi",
            "✘ the signer's certificate was revoked",
        ),
        "incoming.pdf.unsigned": ("Không có chữ ký", "not signed"),
        "incoming.pdf.error": ("✘ Không kiểm tra được", "✘ could not be checked"),
        "incoming.pdf_revocation": (
            "chưa kiểm tra thu hồi chứng thư",
            "certificate revocation not checked",
        ),
        "incoming.trace": ("Đường đi", "Trace"),
        "incoming.files": ("Tệp đính kèm", "Files"),
        "incoming.download": ("Tải về", "Download"),
        "incoming.no_files": ("Không có tệp", "No files"),
        "incoming.history": ("Trạng thái đã gửi nơi gửi", "Statuses sent to the sender"),
        "incoming.register_line": ("Sổ văn bản đến", "Incoming register"),
        "incoming.by": ("bởi", "by"),
        "incoming.deadline": ("Hạn", "Deadline"),
        "incoming.note": ("Ghi chú (gửi kèm trạng thái)", "Note (sent with the status)"),
        "incoming.reason": ("Lý do từ chối", "Reason for refusing"),
        # The buttons read their names from the one status vocabulary (edxml.StatusCode).
        "incoming.act.register": (
            f"Vào sổ ({_S.ACCEPTED.value})", f"Register ({_S.ACCEPTED.value})"
        ),
        "incoming.act.assign": _button(_S.ASSIGNED),
        "incoming.act.progress": _button(_S.PROCESSING),
        "incoming.act.done": _button(_S.DONE),
        "incoming.act.reject": _button(_S.REJECTED),
        "incoming.reject_confirm": (
            "Không nhận văn bản này? Nơi gửi sẽ được báo.",
            "Refuse this document? The sender will be told.",
        ),
        "incoming.done.register": ("Đã vào sổ văn bản đến", "Registered"),
        "incoming.done.assign": ("Đã phân công", "Assigned"),
        "incoming.done.progress": ("Đã chuyển sang đang xử lý", "Marked in progress"),
        "incoming.done.done": ("Đã hoàn thành", "Marked done"),
        "incoming.done.reject": ("Đã từ chối tiếp nhận", "Refused"),
        "incoming.status_queued": (
            "trạng thái đã xếp hàng gửi nơi gửi", "the status is queued for the sender"
        ),
        "incoming.back": ("Danh sách văn bản đến", "Incoming list"),
        "incoming.pdf_title": ("Văn bản PDF", "PDF document"),
    }
)

#: Types a browser runs or renders as a page: never served as themselves.
_ACTIVE_TYPES = re.compile(
    r"^(text/|application/(xhtml|xml|javascript|ecmascript|x-javascript)|image/svg)", re.I
)
_TYPE_SHAPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def _date(value: str | None, step: str) -> dt.date | None:
    if not value or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise incoming.IncomingError(
            f"Ngày không hợp lệ: {value[:20]} (dùng năm-tháng-ngày)",
            f"not a date: {value[:20]} (use year-month-day)",
            step=step,
        ) from None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return unicodedata.normalize("NFC", value).strip()


def _filters(request: Request) -> incoming.IncomingFilters:
    q = request.query_params
    return incoming.IncomingFilters(
        state=_text(q.get("state")),
        sender=_text(q.get("sender")),
        received_from=_date(q.get("from"), "incoming.from"),
        received_to=_date(q.get("to"), "incoming.to"),
        due=_text(q.get("due")),
        mine=q.get("mine") == "1",
        search=(_text(q.get("q")) or "")[:200] or None,
    )


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def _link(request: Request, number: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page" and v]
    return "/incoming?" + urlencode([*params, ("page", str(number))])


@page()
async def incoming_list(request: Request) -> Response:
    ctx = context(request)
    user = request.state.visitor.user
    filters = _filters(request)
    found = await call(
        incoming.list_incoming,
        ctx.office,
        filters,
        _page_number(request),
        viewer=user,
        page_size=ctx.settings.page_size,
    )
    return render(
        request,
        "incoming_list.html",
        found=found,
        marks=await call(lifecycle.marks_received, ctx.office, [it.id for it in found.items]),
        filters=filters,
        states=[c for c in edxml.StatusCode if c.value <= "06"],
        previous_link=_link(request, found.number - 1),
        next_link=_link(request, found.number + 1),
        sees_all=user.role in incoming.SEE_ALL,
    )


def _inbox_id(request: Request) -> int | None:
    raw = request.path_params.get("inbox_id", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@page()
async def incoming_detail(request: Request) -> Response:
    inbox_id = _inbox_id(request)
    if inbox_id is None:
        return not_found(request)
    try:
        detail = await call(
            incoming.incoming_detail,
            context(request).office,
            inbox_id,
            viewer=request.state.visitor.user,
        )
    except incoming.IncomingNotFoundError:
        return not_found(request)
    done = request.query_params.get("done")
    pdf = next((f for f in detail.files if f.is_pdf), None)
    office = context(request).office
    return render(
        request,
        "incoming_detail.html",
        d=detail,
        pdf=pdf,
        chain=await call(lifecycle.chain_received, office, inbox_id),
        take_back=await call(lifecycle.take_back_waiting, office, inbox_id),
        may_answer=request.state.visitor.user.role in (staff.Role.CLERK, staff.Role.LEADER),
        answered=request.query_params.get("answered") == "1",
        done=done if done in incoming.ACTIONS else None,
        today=incoming.today_in_vietnam(context(request).office).isoformat(),
    )


def _disposition(kind: str, name: str) -> str:
    """``attachment``/``inline`` with an ASCII fallback name and the real one (RFC 5987)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1] or "tep"
    ascii_name = (
        unicodedata.normalize("NFKD", base.replace("đ", "d").replace("Đ", "D"))
        .encode("ascii", "ignore")
        .decode()
    )
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", ascii_name).strip() or "tep"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


@page()
async def incoming_file(request: Request) -> Response:
    inbox_id = _inbox_id(request)
    raw = request.path_params.get("index", "")
    if inbox_id is None or not raw.isdigit() or len(raw) > 6:
        return not_found(request)
    try:
        name, content_type, data = await call(
            incoming.incoming_file,
            context(request).office,
            inbox_id,
            int(raw),
            viewer=request.state.visitor.user,
        )
    except incoming.IncomingNotFoundError:
        return not_found(request)
    is_pdf = content_type.lower() == "application/pdf" or (
        name.lower().endswith(".pdf") and data.startswith(b"%PDF")
    )
    media = content_type.strip()
    if not _TYPE_SHAPE.match(media) or _ACTIVE_TYPES.match(media):
        media = "application/octet-stream"
    headers = {"x-content-type-options": "nosniff"}
    if is_pdf and request.query_params.get("inline") == "1":
        media = "application/pdf"
        headers["content-disposition"] = _disposition("inline", name)
        # Shown in our own detail page's frame: framing by ourselves only.
        headers["x-frame-options"] = "SAMEORIGIN"
        # Chromium shows a PDF through its own viewer, which a stricter policy on the
        # PDF's response would break.
        headers["content-security-policy"] = "frame-ancestors 'self'"
    else:
        headers["content-disposition"] = _disposition("attachment", name)
        headers["content-security-policy"] = "default-src 'none'; sandbox"
    headers["cache-control"] = "private, no-store"
    return Response(data, media_type=media, headers=headers)


def _back(inbox_id: int, action: str) -> Response:
    return RedirectResponse(f"/incoming/{inbox_id}?done={action}", 303)


async def _act(request: Request, action: str) -> Response:
    inbox_id = _inbox_id(request)
    if inbox_id is None:
        return not_found(request)
    form = await form_of(request)
    office = context(request).office
    user = request.state.visitor.user
    note = _text(form.get("note"))
    try:
        if action == "register":
            await call(incoming.register, office, inbox_id, actor=user, note=note)
        elif action == "assign":
            raw = form.get("assignee")
            assignee = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 19 else 0
            await call(
                incoming.assign, office, inbox_id, actor=user, assignee_id=assignee,
                deadline=_text(form.get("deadline")), note=note,
            )
        elif action == "progress":
            await call(incoming.progress, office, inbox_id, actor=user, note=note)
        elif action == "done":
            await call(incoming.finish, office, inbox_id, actor=user, note=note)
        else:
            await call(incoming.reject, office, inbox_id, actor=user,
                       reason=_text(form.get("reason")))
    except incoming.IncomingNotFoundError:
        return not_found(request)
    except incoming.NotAllowedError:
        return forbidden(request)
    return _back(inbox_id, action)


@page()
async def register(request: Request) -> Response:
    return await _act(request, "register")


@page()
async def assign(request: Request) -> Response:
    return await _act(request, "assign")


@page()
async def progress(request: Request) -> Response:
    return await _act(request, "progress")


@page()
async def done(request: Request) -> Response:
    return await _act(request, "done")


@page()
async def reject(request: Request) -> Response:
    return await _act(request, "reject")


routes: list[BaseRoute] = [
    Route("/incoming", incoming_list, methods=["GET"]),
    Route("/incoming/{inbox_id}", incoming_detail, methods=["GET"]),
    Route("/incoming/{inbox_id}/files/{index}", incoming_file, methods=["GET"]),
    Route("/incoming/{inbox_id}/register", register, methods=["POST"]),
    Route("/incoming/{inbox_id}/assign", assign, methods=["POST"]),
    Route("/incoming/{inbox_id}/progress", progress, methods=["POST"]),
    Route("/incoming/{inbox_id}/done", done, methods=["POST"]),
    Route("/incoming/{inbox_id}/reject", reject, methods=["POST"]),
]
