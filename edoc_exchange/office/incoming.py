"""Incoming documents (văn bản đến) as the office's staff work them: the list, a
document's detail and files, and the actions that answer its sender.

One door for the web pages, the CLI and an embedding tool. Every action names the signed-in
user (``actor``), runs in one transaction with its audit event and the status message it
queues for the sender, and checks everything before the first write: a wrong state, an
assignee who is not an active officer of this office, a document of another office, a
role that may not act: an :class:`~edoc_exchange.errors.EdocError`, nothing stored.

Who may do what (the role matrix)::

    role            sees                         register  assign  progress/done  reject
    văn thư         every document               yes       yes     yes            yes
    lãnh đạo        every document               yes       yes     yes            yes
    chuyên viên     documents assigned to them   -         -       theirs only    -
    quản trị        every document, read only    -         -       -              -

A leader may register or refuse when the clerk is away (a commune has one clerk); an
assignment goes to an active officer or leader of the office. An officer asking for a
document not assigned to them is told it is not found (as for another office's), so that
the list of what exists does not leak through the pages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .. import audit, edxml, signing
from ..edxml.large import read_file_lazily
from ..errors import EdocError
from ..store import InboxVerdict, as_utc
from ..store import handling as handling_store
from ..store import inbox as inbox_store
from ..store import pdfchecks as pdf_store
from ..store.blobs import BlobStore
from ..vntime import VN_TZ, to_vn_time
from . import staff
from ._office import FINAL_STATUSES, Office
from .clerk import move

__all__ = [
    "ACTIONS",
    "IncomingDetail",
    "IncomingError",
    "IncomingFile",
    "IncomingFilters",
    "IncomingItem",
    "IncomingNotFoundError",
    "NotAllowedError",
    "Page",
    "SignatureVerdict",
    "StatusLine",
    "assign",
    "finish",
    "incoming_detail",
    "incoming_file",
    "list_incoming",
    "listed_item",
    "progress",
    "register",
    "reject",
    "today_in_vietnam",
]

_T = TypeVar("_T")
_R = staff.Role
_S = edxml.StatusCode

#: Roles that see every document (the others see what was assigned to them).
SEE_ALL = frozenset({_R.CLERK, _R.LEADER, _R.ADMIN})
#: Roles that register, assign, refuse and handle any document.
MANAGE = frozenset({_R.CLERK, _R.LEADER})
#: Roles a document may be assigned to.
ASSIGNABLE = frozenset({_R.OFFICER, _R.LEADER})
#: The actions, each with the status it sends.
ACTIONS: dict[str, _S] = {
    "register": _S.ACCEPTED,
    "assign": _S.ASSIGNED,
    "progress": _S.PROCESSING,
    "done": _S.DONE,
    "reject": _S.REJECTED,
}
#: OtherInfo's Priority (QCVN 102: độ khẩn), Vietnamese and English.
PRIORITY_NAMES: dict[int, tuple[str, str]] = {
    0: ("Thường", "normal"),
    1: ("Khẩn", "urgent"),
    2: ("Thượng khẩn", "very urgent"),
    3: ("Hỏa tốc", "immediate"),
    4: ("Hỏa tốc hẹn giờ", "immediate, timed"),
}
_REASON_MAX = 400
_NOTE_MAX = 400


class IncomingError(EdocError):
    """An incoming document could not be listed, shown or acted on as asked."""


class IncomingNotFoundError(IncomingError):
    """No such document for this user: none, another office's, or not assigned to them."""


class NotAllowedError(IncomingError):
    """The user's role may not do this."""


@dataclass(frozen=True)
class IncomingFilters:
    """What the list shows: every criterion given must hold."""

    state: str | None = None  #: a clerk state, "01".."06"
    sender: str | None = None  #: the sender's OrganId
    received_from: dt.date | None = None  #: received on or after (Vietnam dates)
    received_to: dt.date | None = None  #: received on or before
    due: str | None = None  #: "due" (has a due date, open) or "overdue"
    mine: bool = False  #: assigned to the viewer
    search: str | None = None  #: words, accents optional ("ke hoach" finds "Kế hoạch")


@dataclass(frozen=True)
class Page(Generic[_T]):
    """One page of a list, with the total the filters match."""

    items: tuple[_T, ...]
    total: int
    number: int  #: 1-based
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class IncomingItem:
    """A received document as the list shows it."""

    id: int
    document_id: str
    subject: str | None
    sender: str
    sender_name: str | None
    code: str | None  #: số/ký hiệu, "12/KH-UBND"
    doc_type: str | None
    priority: int | None
    received_at: dt.datetime  #: Vietnam time
    due_date: str | None  #: the assignment's deadline, else the sender's due date
    state: str
    verified: bool
    register_number: int | None
    assignee_id: int | None
    assignee_name: str | None
    overdue: bool
    unread: bool  #: received after the viewer last looked at the notices

    @property
    def state_name(self) -> tuple[str, str]:
        known = _S.known(self.state)
        return (known.vi, known.en) if known else (self.state, self.state)

    @property
    def priority_name(self) -> tuple[str, str] | None:
        return PRIORITY_NAMES.get(self.priority) if self.priority is not None else None


@dataclass(frozen=True)
class SignatureVerdict:
    """The signature check in plain words."""

    valid: bool
    signer: str | None  #: the certificate's subject
    issuer: str | None
    signed_at: dt.datetime | None  #: Vietnam time
    reason: str | None  #: why it was refused
    identity_finding: str | None  #: why its identity is doubtful, when let in anyway
    #: The signing time an RFC 3161 timestamp proves (trusted TSA), Vietnam time.
    proven_at: dt.datetime | None = None
    #: The timestamp's TSA and, when it is not trusted, that its time is not proven.
    timestamp_tsa: str | None = None
    timestamp_trusted: bool | None = None


@dataclass(frozen=True)
class IncomingFile:
    """A file of a received document (the inner file of a zipped attachment)."""

    index: int
    name: str
    content_type: str
    size: int

    @property
    def is_pdf(self) -> bool:
        return self.content_type == "application/pdf" or self.name.lower().endswith(".pdf")


@dataclass(frozen=True)
class StatusLine:
    """A status this office sent about the document."""

    code: str
    description: str | None
    at: dt.datetime  #: Vietnam time

    @property
    def name(self) -> tuple[str, str]:
        known = _S.known(self.code)
        return (known.vi, known.en) if known else (self.code, self.code)


@dataclass(frozen=True)
class IncomingDetail:
    """Everything the detail page shows of one received document."""

    item: IncomingItem
    promulgation_place: str | None
    promulgation_date: str | None
    signer_name: str | None  #: SignerInfo: position and full name
    recipients: tuple[str, ...]
    trace: tuple[tuple[str, dt.datetime | None], ...]  #: (OrganId, time) per hop
    signature: SignatureVerdict
    files: tuple[IncomingFile, ...]
    history: tuple[StatusLine, ...]
    register: handling_store.RegisterEntry | None
    assignment: handling_store.Assignment | None
    #: What the viewer may do now ("register", "assign", ...), in the page's order.
    actions: tuple[str, ...]
    #: Whom the viewer may assign it to (empty unless "assign" is allowed).
    assignees: tuple[staff.User, ...]
    #: What the receiver found of each PDF attachment's own signatures (see .pdfchecks).
    pdf_verdicts: tuple[pdf_store.PdfVerdictRow, ...] = ()


def today_in_vietnam(office: Office) -> dt.date:
    """Today's date where the office is (due dates are Vietnam dates)."""
    return to_vn_time(office.clock()).date()


def _vn_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), VN_TZ).astimezone(dt.UTC)


def _check_filters(filters: IncomingFilters) -> None:
    if filters.state is not None and _S.known(filters.state) is None:
        raise IncomingError(
            f"Trạng thái không hợp lệ: {filters.state}",
            f"not a state: {filters.state}",
            step="incoming.state",
        )
    if filters.due not in (None, "due", "overdue"):
        raise IncomingError(
            "Bộ lọc hạn xử lý không hợp lệ", "not a due-date filter", step="incoming.due"
        )
    if (
        filters.received_from is not None
        and filters.received_to is not None
        and filters.received_from > filters.received_to
    ):
        raise IncomingError(
            "Ngày bắt đầu phải trước ngày kết thúc",
            "the first day must come before the last",
            step="incoming.received",
        )


def _query(filters: IncomingFilters, viewer: staff.User, today: dt.date) -> Any:
    if viewer.role not in SEE_ALL or filters.mine:
        assignee: int | None = viewer.id
    else:
        assignee = None
    search = unicodedata.normalize("NFC", filters.search).strip() if filters.search else None
    return handling_store.IncomingQuery(
        state=filters.state,
        sender=filters.sender.strip() if filters.sender else None,
        received_from=_vn_start(filters.received_from) if filters.received_from else None,
        received_before=(
            _vn_start(filters.received_to + dt.timedelta(days=1)) if filters.received_to else None
        ),
        due=filters.due,
        today=today,
        assignee_id=assignee,
        search=search or None,
    )


def listed_item(
    row: handling_store.ListedIncoming, viewer: staff.User, today: dt.date
) -> IncomingItem:
    """A list row as ``viewer`` sees it (unread since their ``seen_at``, overdue today)."""
    due = row.deadline or row.due_date
    open_ = row.verified and row.clerk_state not in FINAL_STATUSES
    seen = viewer.seen_at
    return IncomingItem(
        id=row.id,
        document_id=row.document_id,
        subject=row.subject,
        sender=row.sender,
        sender_name=row.sender_name,
        code=row.code,
        doc_type=row.doc_type,
        priority=row.priority,
        received_at=to_vn_time(row.received_at),
        due_date=due,
        state=row.clerk_state,
        verified=row.verified,
        register_number=row.register_number,
        assignee_id=row.assignee_id,
        assignee_name=row.assignee_name,
        overdue=bool(open_ and due and due < today.isoformat()),
        unread=seen is None or row.received_at > as_utc(seen),
    )


def list_incoming(
    office: Office,
    filters: IncomingFilters,
    page: int = 1,
    *,
    viewer: staff.User,
    page_size: int = 50,
) -> Page[IncomingItem]:
    """A page of the received documents ``viewer`` may see, newest first, with the total.

    Raises IncomingError for a filter that makes no sense (an unknown state, a date range
    that ends before it starts).
    """
    _check_filters(filters)
    today = today_in_vietnam(office)
    query = _query(filters, viewer, today)
    number = max(1, page)
    with office.db.read() as conn:
        total = handling_store.count_incoming(conn, office.office_id, query)
        rows = handling_store.list_incoming(
            conn, office.office_id, query, limit=page_size, offset=(number - 1) * page_size
        )
    items = tuple(listed_item(r, viewer, today) for r in rows)
    return Page(items, total, number, page_size)


def _not_found(inbox_id: int) -> IncomingNotFoundError:
    return IncomingNotFoundError(
        f"Không có văn bản đến số {inbox_id}",
        f"no received document {inbox_id}",
        step="incoming.id",
    )


def _visible_row(
    conn: Any, office: Office, inbox_id: int, viewer: staff.User
) -> tuple[inbox_store.InboxRow, handling_store.Assignment | None]:
    """The row ``viewer`` may see, with its assignment; IncomingNotFoundError otherwise."""
    if viewer.office_id != office.office_id:
        raise _not_found(inbox_id)
    row = inbox_store.incoming_by_id(conn, office.office_id, inbox_id)
    if row is None:
        raise _not_found(inbox_id)
    assignment = handling_store.assignment_of(conn, row.id)
    if viewer.role not in SEE_ALL and (assignment is None or assignment.assignee_id != viewer.id):
        raise _not_found(inbox_id)
    return row, assignment


def _message(
    office: Office, conn: Any, row: inbox_store.InboxRow
) -> tuple[edxml.Document | None, inbox_store.VerifiedDocument | None]:
    """The verified message of a row and its projection (never a rejected one's bytes)."""
    if row.verdict is not InboxVerdict.VERIFIED:
        return None, None
    blobs = None
    if row.message_blob is not None:
        blobs = (
            BlobStore(office.blob_dir)
            if office.blob_dir is not None
            else BlobStore.beside(office.db.engine)
        )
    verified = inbox_store.verified_document(conn, row, blobs=blobs)
    if verified.content_file is not None:
        message = read_file_lazily(verified.content_file).message
    else:
        message = edxml.read(verified.content).message
    return (message if isinstance(message, edxml.Document) else None), verified


def _actions(
    row: inbox_store.InboxRow,
    assignment: handling_store.Assignment | None,
    viewer: staff.User,
) -> tuple[str, ...]:
    if not row.verified or viewer.role is _R.ADMIN:
        return ()
    mine = assignment is not None and assignment.assignee_id == viewer.id
    allowed = []
    for name, target in ACTIONS.items():
        if row.clerk_state not in target.follows:
            continue
        if name == "progress" and row.clerk_state == _S.PROCESSING.value:
            continue  # already in progress: nothing to tell the sender again
        if viewer.role in MANAGE or (name in ("progress", "done") and mine):
            allowed.append(name)
    return tuple(allowed)


def _assignees(office: Office) -> tuple[staff.User, ...]:
    return tuple(
        u
        for u in staff.list_users(office.db, office.office_id)
        if u.role in ASSIGNABLE and not u.disabled
    )


def _timestamp_words(office: Office, signature_xml: bytes | None) -> dict[str, Any]:
    """What the signature's timestamp proves, judged again under the office's TSA roots."""
    if signature_xml is None:
        return {}
    roots = office.policy.tsa_roots if office.policy is not None else ()
    stamp = signing.stored_timestamp(signature_xml, roots)
    if stamp is None or stamp.time is None:
        return {}
    trusted = stamp.proven is not None
    return {
        "proven_at": to_vn_time(as_utc(stamp.time)) if trusted else None,
        "timestamp_tsa": stamp.tsa,
        "timestamp_trusted": trusted,
    }


def incoming_detail(office: Office, inbox_id: int, *, viewer: staff.User) -> IncomingDetail:
    """One received document for ``viewer``: header, trace, signature, files, statuses,
    register line, assignment and the actions open to the viewer.

    Raises IncomingNotFoundError when there is no such document for this viewer.
    """
    today = today_in_vietnam(office)
    with office.db.read() as conn:
        row, assignment = _visible_row(conn, office, inbox_id, viewer)
        message, verified = _message(office, conn, row)
        register = handling_store.registration_of(conn, row.id)
        pdf_verdicts = tuple(pdf_store.verdicts_of(conn, row.id))
        history = inbox_store.status_history_of(
            conn, office.office_id, row.document_id, replies_to=row.sender
        )
        signature_xml = inbox_store.signature_xml_of(conn, row.id) if verified else None
    files: list[IncomingFile] = []
    if message is not None:
        for index, attachment in enumerate(message.attachments):
            file = attachment.file
            files.append(IncomingFile(index, file.name, file.content_type, file.size))
    listed = handling_store.ListedIncoming(
        id=row.id,
        document_id=row.document_id,
        sender=row.sender,
        sender_name=row.sender_name,
        subject=row.subject,
        code=row.code,
        doc_type=row.doc_type,
        priority=row.priority,
        due_date=row.due_date,
        received_at=as_utc(row.received_at),
        clerk_state=row.clerk_state,
        verified=row.verified,
        register_number=register.number if register else None,
        register_year=register.year if register else None,
        assignee_id=assignment.assignee_id if assignment else None,
        assignee_name=assignment.assignee_name if assignment else None,
        deadline=assignment.deadline if assignment else None,
    )
    signer = verified.signer if verified is not None else None
    signed_at = verified.signing_time if verified is not None else None
    verdict = SignatureVerdict(
        valid=row.verified,
        signer=signer.subject if signer else None,
        issuer=signer.issuer if signer else None,
        signed_at=to_vn_time(as_utc(signed_at)) if signed_at else None,
        reason=row.reason,
        identity_finding=row.identity_finding,
        **_timestamp_words(office, signature_xml),
    )
    signer_info = message.signer if message is not None else None
    signer_name = (
        " ".join(p for p in (signer_info.position, signer_info.full_name) if p) or None
        if signer_info
        else None
    )
    promulgation = message.promulgation if message is not None else None
    actions = _actions(row, assignment, viewer)
    return IncomingDetail(
        item=listed_item(listed, viewer, today),
        promulgation_place=promulgation.place if promulgation else None,
        promulgation_date=row.promulgation_date,
        signer_name=signer_name,
        recipients=tuple(
            f"{r.organ_name or ''} ({r.organ_id})".strip() for r in message.recipients
        )
        if message is not None
        else (),
        trace=tuple(
            (hop.organ_id or "?", to_vn_time(hop.timestamp) if hop.timestamp else None)
            for hop in message.trace
        )
        if message is not None
        else (),
        signature=verdict,
        files=tuple(files),
        history=tuple(
            StatusLine(
                h["status_code"], h["description"], to_vn_time(as_utc(h["recorded_at"]))
            )
            for h in history
            if h["direction"] == "out"
        ),
        register=(
            dataclasses.replace(register, registered_at=to_vn_time(register.registered_at))
            if register
            else None
        ),
        assignment=(
            dataclasses.replace(assignment, assigned_at=to_vn_time(assignment.assigned_at))
            if assignment
            else None
        ),
        actions=actions,
        assignees=_assignees(office) if "assign" in actions else (),
        pdf_verdicts=pdf_verdicts,
    )


def incoming_file(
    office: Office, inbox_id: int, index: int, *, viewer: staff.User
) -> tuple[str, str, bytes]:
    """A file of a received, verified document: (name, content type, bytes), the inner
    file of a zipped attachment. Raises IncomingNotFoundError for no such file."""
    with office.db.read() as conn:
        row, _assignment = _visible_row(conn, office, inbox_id, viewer)
        message, _verified = _message(office, conn, row)
    if message is None or not 0 <= index < len(message.attachments):
        raise IncomingNotFoundError(
            f"Văn bản {inbox_id} không có tệp số {index}",
            f"document {inbox_id} has no file {index}",
            step="incoming.file",
        )
    file = message.attachments[index].file
    return file.name, file.content_type, file.data


# --- the actions -------------------------------------------------------------------------


def _text(value: str | None, limit: int, step: str) -> str | None:
    text = " ".join(unicodedata.normalize("NFC", value).split()) if value else ""
    if len(text) > limit:
        raise IncomingError(
            f"Nội dung quá dài (tối đa {limit} ký tự)",
            f"the text is too long ({limit} characters at most)",
            step=step,
        )
    return text or None


def _acting(
    conn: Any, office: Office, inbox_id: int, actor: staff.User, action: str
) -> tuple[inbox_store.InboxRow, handling_store.Assignment | None]:
    """The row ``actor`` may do ``action`` on, checked before anything is written."""
    row, assignment = _visible_row(conn, office, inbox_id, actor)
    mine = assignment is not None and assignment.assignee_id == actor.id
    if actor.role not in MANAGE and not (action in ("progress", "done") and mine):
        raise NotAllowedError(
            "Tài khoản của bạn không được phép làm việc này với văn bản này",
            "your account may not do this with this document",
            step=f"incoming.{action}",
        )
    return row, assignment


def _audit_actor(actor: staff.User) -> str:
    return f"{actor.full_name} ({actor.username})"


def register(
    office: Office, inbox_id: int, *, actor: staff.User, note: str | None = None
) -> int:
    """Vào sổ: take the next number of this year's incoming register and move the document
    to 03 (accepted), in one transaction; returns the number. Raises EdocError for a
    document not in state 01, already registered, or not the actor's to register."""
    note = _text(note, _NOTE_MAX, "incoming.note")
    now = office.clock()
    year = to_vn_time(now).year
    with office.db.transaction() as conn:
        row, _ = _acting(conn, office, inbox_id, actor, "register")
        number = handling_store.register(
            conn, office_id=office.office_id, inbox_id=row.id, year=year, now=now, by=actor.id
        )
        words = f"Vào sổ văn bản đến số {number}/{year}"
        move(
            conn, office, row, _S.ACCEPTED.value, f"{words}. {note}" if note else words,
            actor=_audit_actor(actor), details={"inbox_id": row.id},
        )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.REGISTERED,
            {
                "inbox_id": row.id,
                "document_id": row.document_id,
                "from": row.sender,
                "number": number,
                "year": year,
                "by": actor.username,
            },
        )
    return number


def _deadline(value: dt.date | str | None, today: dt.date) -> dt.date:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if value is None:
        raise IncomingError(
            "Nhập hạn xử lý (ngày/tháng/năm)",
            "enter a deadline (a date)",
            step="incoming.deadline",
        )
    if value < today:
        raise IncomingError(
            f"Hạn xử lý {value:%d/%m/%Y} đã qua",
            f"the deadline {value.isoformat()} has passed",
            step="incoming.deadline",
        )
    return value


def assign(
    office: Office,
    inbox_id: int,
    *,
    actor: staff.User,
    assignee_id: int,
    deadline: dt.date | str | None,
    note: str | None = None,
) -> None:
    """Phân công: give the document to an active officer (or leader) of this office with a
    deadline, and move it to 04. Raises EdocError for an unknown, disabled or other
    office's assignee, a missing or past deadline, or a document not in state 03/04."""
    note = _text(note, _NOTE_MAX, "incoming.note")
    due = _deadline(deadline, today_in_vietnam(office))
    assignee = staff.find_user(office.db, assignee_id)
    if (
        assignee is None
        or assignee.office_id != office.office_id
        or assignee.disabled
        or assignee.role not in ASSIGNABLE
    ):
        raise IncomingError(
            "Người được giao không phải chuyên viên hoặc lãnh đạo đang làm việc của cơ quan",
            "the assignee is not an active officer or leader of this office",
            step="incoming.assignee",
        )
    now = office.clock()
    with office.db.transaction() as conn:
        row, _ = _acting(conn, office, inbox_id, actor, "assign")
        words = f"Giao {assignee.full_name} xử lý, hạn {due:%d/%m/%Y}"
        move(
            conn, office, row, _S.ASSIGNED.value, f"{words}. {note}" if note else words,
            actor=_audit_actor(actor), details={"inbox_id": row.id},
        )
        handling_store.assign(
            conn,
            office_id=office.office_id,
            inbox_id=row.id,
            assignee_id=assignee.id,
            deadline=due.isoformat(),
            by=actor.id,
            now=now,
            note=note,
        )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.ASSIGNED,
            {
                "inbox_id": row.id,
                "document_id": row.document_id,
                "from": row.sender,
                "assignee": assignee.username,
                "deadline": due.isoformat(),
                "by": actor.username,
            },
        )


def _simple(
    office: Office, inbox_id: int, action: str, actor: staff.User, note: str | None
) -> None:
    with office.db.transaction() as conn:
        row, _ = _acting(conn, office, inbox_id, actor, action)
        move(
            conn, office, row, ACTIONS[action].value, note,
            actor=_audit_actor(actor), details={"inbox_id": row.id},
        )


def progress(
    office: Office, inbox_id: int, *, actor: staff.User, note: str | None = None
) -> None:
    """Đang xử lý (05). Raises EdocError for a document not in state 03/04."""
    _simple(office, inbox_id, "progress", actor, _text(note, _NOTE_MAX, "incoming.note"))


def finish(office: Office, inbox_id: int, *, actor: staff.User, note: str | None = None) -> None:
    """Hoàn thành (06). Raises EdocError for a document not in state 03/04/05."""
    _simple(office, inbox_id, "done", actor, _text(note, _NOTE_MAX, "incoming.note"))


def reject(office: Office, inbox_id: int, *, actor: staff.User, reason: str | None) -> None:
    """Từ chối tiếp nhận (02) with a reason the sender reads. Raises EdocError without a
    reason, or for a document no longer in state 01."""
    text = _text(reason, _REASON_MAX, "incoming.reason")
    if text is None:
        raise IncomingError(
            "Nhập lý do từ chối (nơi gửi sẽ đọc lý do này)",
            "enter the reason for refusing (the sender reads it)",
            step="incoming.reason",
        )
    _simple(office, inbox_id, "reject", actor, text)

