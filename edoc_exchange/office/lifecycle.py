"""A document's lifecycle: revoke (thu hồi), update (cập nhật), replace (thay thế) a
document this office sent, take one back (status 13, answered 15/16), and, on receipt,
what a peer's revoke, update or replace does to the stored original.

The messages follow the official samples: a revoke or an update re-uses the original's
DocumentId (BussinessDocType 1 or 2) and names it again in its Bussiness block; a
replacement is a new document (its own DocumentId, BussinessDocType 3) whose
ReplacementInfoList names the original and its recipients. A status 13 goes to each
recipient, its ResponseFor naming that recipient (as the official sample does).

Nothing here changes or deletes an original outbox or inbox row: every step adds one row
to ``document_changes`` and one audit event, in the transaction that queues or stores the
message. A revoke or replace received is applied only to a document of ITS SENDER: one
that names another sender's document is recorded "refused", and that document is never
touched; one whose original never arrived is kept and reported ("unknown-original").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audit, edxml
from ..errors import EdocError
from ..store import changes as changes_store
from ..store import inbox as inbox_store
from ..store import outbox as outbox_store
from ..store.changes import Change
from ..vntime import to_vn_time
from . import large, outgoing, staff
from ._inbound import issuer_of
from ._office import Office
from .replies import queue_status, status_message
from .sending import queue_within

__all__ = [
    "ChainLine",
    "LifecycleError",
    "Sent",
    "answer_take_back",
    "chain_received",
    "chain_sent",
    "change_words",
    "document_arrived",
    "marks_received",
    "marks_sent",
    "outcome_words",
    "replace",
    "replace_with_files",
    "revoke",
    "status_arrived",
    "take_back",
    "take_back_waiting",
    "update",
]

_B = edxml.BusinessDocType
#: The change a business type makes, as ``document_changes.change`` names it.
CHANGE_OF = {_B.REVOKE: "revoked", _B.UPDATE: "updated", _B.REPLACE: "replaced"}
TAKE_BACK = "takeback"
#: After these, a sent document is gone for its recipients: nothing more may be done to it.
_ENDED = frozenset({"revoked", "replaced"})


class LifecycleError(EdocError):
    """A revoke, update, replace or take-back that may not be done (nothing is stored)."""


@dataclass(frozen=True)
class Sent:
    """What a lifecycle step queued: its outbox rows and the change recorded."""

    outbox_ids: tuple[int, ...]
    change: Change


# --- this office's own documents -------------------------------------------------------


def revoke(office: Office, document_id: str, reason: str, *, actor: str | None = None) -> Sent:
    """Revoke (thu hồi) a document this office sent: a BussinessDocType 1 message with the
    original's header and DocumentId, no attachments, queued to its recipients.

    Raises LifecycleError when the office never sent it, or it is revoked or replaced
    already, or ``reason`` is empty; nothing is queued then.
    """
    return _change_sent(office, document_id, _B.REVOKE, reason, actor=actor)


def update(
    office: Office,
    document_id: str,
    reason: str,
    *,
    subject: str | None = None,
    content: str | None = None,
    due_date: dt.date | None = None,
    files: Sequence[outgoing.Upload] = (),
    actor: str | None = None,
    max_file_bytes: int = outgoing.DEFAULT_MAX_FILE_BYTES,
) -> Sent:
    """Update (cập nhật) a sent document's information: a BussinessDocType 2 message with
    the original's header, the given fields changed, queued to its recipients. ``files``
    (the main file first, PDF or DOCX, then attachments) replace the original's files,
    checked as a draft's are (:func:`outgoing.check_file`); none keeps them.

    A receiver keeps one update per document (the DocumentId and business type identify
    it), so a second update is refused: replace the document instead. Raises
    LifecycleError as :func:`revoke` does, and when no field is changed; DraftError
    naming the file (``draft.main_file``, ``draft.attachments[1]``) for a file refused.
    """
    changed: dict[str, Any] = {
        k: (unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v)
        for k, v in {"subject": subject, "content": content, "due_date": due_date}.items()
        if v is not None and v != ""
    }
    if files:
        checked = [
            outgoing.check_file(
                f,
                "main_file" if i == 0 else f"attachments[{i}]",
                main=i == 0,
                max_bytes=max_file_bytes,
            )
            for i, f in enumerate(files)
        ]
        changed["attachments"] = [
            edxml.Attachment(
                content_id=f"cid:{i + 1}-{hashlib.sha256(f.data).hexdigest()[:16]}",
                name=f.name,
                content_type=f.content_type,
                data=f.data,
            )
            for i, f in enumerate(checked)
        ]
    if not changed:
        raise LifecycleError(
            "Cập nhật văn bản cần ít nhất một thông tin mới (trích yếu, nội dung, hạn xử lý, "
            "tệp)",
            "an update needs at least one new field (subject, content, due date, files)",
            step="lifecycle.update",
        )
    return _change_sent(office, document_id, _B.UPDATE, reason, actor=actor, header=changed)


def replace(
    office: Office,
    document_id: str,
    new_document: edxml.Document,
    reason: str,
    *,
    actor: str | None = None,
) -> Sent:
    """Replace (thay thế) a sent document by ``new_document``: sent as BussinessDocType 3
    to the original's recipients, its ReplacementInfoList naming the original.

    ``new_document`` is this office's, with a DocumentId of its own that was never
    queued; it is signed when sent (any signature it carries is dropped: the Bussiness
    block changes what was signed). Raises LifecycleError as :func:`revoke` does, and for
    a new document that is not this office's, re-uses the DocumentId, or was queued.
    """
    step = "lifecycle.replace"
    new_id = new_document.document_id or ""
    if new_document.sender.organ_id != office.office_id:
        raise LifecycleError(
            f"Văn bản thay thế ghi nơi gửi {new_document.sender.organ_id}, không phải cơ quan "
            f"này ({office.office_id})",
            f"the replacement's sender is {new_document.sender.organ_id}, not this office "
            f"({office.office_id})",
            step=step,
        )
    if not new_id or new_id == document_id:
        raise LifecycleError(
            "Văn bản thay thế phải có mã văn bản (DocumentId) mới, khác văn bản bị thay thế",
            "a replacement needs a DocumentId of its own, not the replaced document's",
            step=step,
        )
    with office.db.read() as conn:
        if outbox_store.find_document(conn, office.office_id, new_id) is not None:
            raise LifecycleError(
                f"Văn bản {new_id} đã được đưa vào hàng gửi: không dùng làm văn bản thay thế",
                f"document {new_id} was queued already: it cannot be the replacement",
                step=step,
            )
    return _change_sent(office, document_id, _B.REPLACE, reason, actor=actor, new=new_document)


def _form_of(original: edxml.Document, step: str, subject: str | None,
             due_date: str | None, today: dt.date) -> outgoing.DraftForm:
    """The replacement's fields: the original's, with the subject and due date given."""
    type_name = original.document_type.type_name if original.document_type else None
    kinds = [k for k, (name, _a) in outgoing.DOCUMENT_TYPES.items() if name == type_name]
    if not kinds:
        raise LifecycleError(
            f"Loại văn bản '{type_name}' của văn bản gốc không có trong danh sách loại văn "
            "bản: gửi văn bản thay thế bằng thư viện (office.lifecycle.replace)",
            f"the original's document type '{type_name}' is not one of the listed types: "
            "send the replacement through the library (office.lifecycle.replace)",
            step=step,
        )
    due = due_date
    if due is None and original.due_date is not None and original.due_date >= today:
        due = original.due_date.isoformat()
    signer = original.signer
    return outgoing.DraftForm(
        doc_type=kinds[0],
        notation=original.code.notation or "" if original.code else "",
        subject=subject if subject else original.subject or "",
        recipients=[r.organ_id for r in original.recipients],
        priority=str(original.other_info.priority or 0) if original.other_info else "0",
        due_date=due or "",
        place=original.promulgation.place or "" if original.promulgation else "",
        signer_competence=(signer.competence or "") if signer else "",
        signer_position=(signer.position or "") if signer else "",
        signer_name=(signer.full_name or "") if signer else "",
    )


def replace_with_files(
    office: Office,
    document_id: str,
    main: outgoing.Upload,
    attachments: Sequence[outgoing.Upload] = (),
    *,
    reason: str,
    subject: str | None = None,
    due_date: str | None = None,
    number: int | None = None,
    actor: staff.User | str | None = None,
    max_file_bytes: int = outgoing.DEFAULT_MAX_FILE_BYTES,
) -> Sent:
    """Replace (thay thế) a sent document by a new version made of new files: a document
    of its own (the original's header fields, ``subject``/``due_date`` when given), its
    number taken from the outgoing register as any issued document's (the standard's
    sample gives the replacement a number and DocumentId of its own), signed, its
    Bussiness block (type 3) naming the original and its recipients.

    One door with :func:`outgoing.send_document`: the same file checks, the same register,
    the ISSUED event, and in the same transaction the change row and the LIFECYCLE_SENT
    event. Raises LifecycleError naming the document when this office never sent it or it
    is revoked or replaced already, or the reason is empty; DraftError naming the field
    (``draft.main_file``, ``draft.attachments[2]``) for a file refused; nothing is stored.
    """
    step = "lifecycle.replace"
    reason = _reason(reason, step)
    with office.db.read() as conn:
        original_row = _sent_original(conn, office, document_id, step)
    original = _read(office, original_row)
    form = _form_of(original, step, subject, due_date, to_vn_time(office.clock()).date())
    recipients = [r.organ_id for r in original.recipients]
    who = actor.username if isinstance(actor, staff.User) else actor
    business = edxml.Bussiness(
        doc_type=int(_B.REPLACE),
        reason=reason,
        paper=0,
        staff_info=_staff(office),
        replacements=[edxml.ReplacementInfo(document_id=document_id, organ_ids=recipients)],
    )
    made: list[Change] = []

    def record(conn: Any, document: edxml.Document, outbox_id: int) -> None:
        _sent_original(conn, office, document_id, step)  # again, under the write lock
        made.append(_record_sent(conn, office, document_id, CHANGE_OF[_B.REPLACE],
                                 str(document.document_id), outbox_id, recipients, reason,
                                 who))

    sent = outgoing.send_document(
        office,
        form,
        main,
        attachments,
        actor=actor,
        number=number,
        max_file_bytes=max_file_bytes,
        business=business,
        within=record,
    )
    assert sent.outbox_id is not None
    if not made:  # those very bytes were queued before: nothing new was recorded
        raise LifecycleError(
            f"Văn bản thay thế {sent.document.document_id} đã có trong hàng gửi",
            f"the replacement {sent.document.document_id} was queued already",
            step=step,
        )
    return Sent((sent.outbox_id,), made[0])


def _staff(office: Office) -> edxml.StaffInfo | None:
    if office.identity.staff or office.identity.department:
        return edxml.StaffInfo(staff=office.identity.staff, department=office.identity.department)
    return None


#: What a change is called, as a clerk reads it in a document's chain (Vietnamese, English).
_CHANGE_WORDS: dict[str, tuple[str, str]] = {
    "revoked": ("đã thu hồi", "revoked"),
    "updated": ("đã cập nhật", "updated"),
    "replaced": ("đã bị thay thế", "replaced"),
    # a take-back is named by the status that asks it (13), from the one vocabulary
    TAKE_BACK: (
        edxml.StatusCode.TAKE_BACK_REQUESTED.vi.lower(),
        edxml.StatusCode.TAKE_BACK_REQUESTED.en,
    ),
}
_OUTCOME_WORDS: dict[str, tuple[str, str]] = {
    "sent": ("đã gửi", "sent"),
    "applied": ("đã áp dụng", "applied"),
    "unknown-original": ("không có văn bản gốc: lưu lại, không áp dụng",
                         "original unknown: kept, not applied"),
    "refused": ("không áp dụng: văn bản của nơi gửi khác",
                "not applied: another sender's document"),
    "asked": ("đang chờ trả lời", "waiting for an answer"),
}


def change_words(change: str) -> tuple[str, str]:
    """A change's name (``replaced`` -> "đã bị thay thế", "replaced")."""
    return _CHANGE_WORDS.get(change, (change, change))


def outcome_words(change: str, outcome: str) -> tuple[str, str]:
    """What came of a change, in words: a take-back refused is the peer's answer, any
    other refusal is ours (the message named another sender's document)."""
    if change == TAKE_BACK and outcome in ("accepted", "refused"):
        code = (
            edxml.StatusCode.CHANGE_ACCEPTED
            if outcome == "accepted"
            else edxml.StatusCode.CHANGE_REFUSED
        )
        return (code.vi.lower(), code.en)
    return _OUTCOME_WORDS.get(outcome, (outcome, outcome))


def take_back(office: Office, document_id: str, reason: str, *, actor: str | None = None) -> Sent:
    """Ask the recipients of a sent document to give it back (status 13, with the reason):
    one status per recipient. Raises LifecycleError when the office never sent it, it is
    revoked or replaced, or a take-back is asked and not answered yet."""
    step = "lifecycle.take_back"
    reason = _reason(reason, step)
    with office.db.transaction() as conn:
        original = _sent_original(conn, office, document_id, step)
        done = changes_store.changes_to(
            conn, office.office_id, office.office_id, document_id, direction="out"
        )
        if any(c.change == TAKE_BACK and c.outcome == "asked" for c in done):
            raise LifecycleError(
                f"Đã yêu cầu lấy lại văn bản {document_id}",
                f"taking document {document_id} back was asked already",
                step=step,
            )
        doc = _read(office, original)
        answered = _response_for(doc)
        ids: list[int] = []
        for organ in original.recipients:
            target = answered.model_copy(update={"organ_id": organ})
            msg = status_message(office, target, edxml.StatusCode.TAKE_BACK_REQUESTED, reason)
            data = edxml.write(msg)
            row_id, _new = queue_within(conn, office, data, edxml.read(data, strict=True).message)
            ids.append(row_id)
        change = changes_store.record(
            conn,
            office_id=office.office_id,
            direction="out",
            issuer=office.office_id,
            document_id=document_id,
            change=TAKE_BACK,
            outcome="asked",
            at=office.clock(),
            by_outbox_id=ids[0] if ids else None,
            reason=reason,
        )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.TAKE_BACK,
            {
                "document_id": document_id,
                "outcome": "asked",
                "to": list(original.recipients),
                "outbox_ids": ids,
                "reason": reason,
                "staff": actor or office.identity.staff,
            },
        )
    return Sent(tuple(ids), change)


def _reason(reason: str, step: str) -> str:
    reason = reason.strip()
    if not reason:
        raise LifecycleError(
            "Cần ghi lý do (BussinessDocReason)",
            "a reason is required (BussinessDocReason)",
            step=step,
        )
    return reason[:500]


def _sent_original(
    conn: Any, office: Office, document_id: str, step: str
) -> outbox_store.OutboxRow:
    """The sent original, refused when never sent or already revoked or replaced."""
    original = changes_store.original_sent(conn, office.office_id, document_id)
    if original is None:
        raise LifecycleError(
            f"Cơ quan chưa gửi văn bản {document_id} (chưa lên trục): không thu hồi, cập "
            "nhật, thay thế hay lấy lại được",
            f"this office never sent document {document_id} (the axis never took it): it "
            "cannot be revoked, updated, replaced or taken back",
            step=step,
        )
    for done in changes_store.changes_to(
        conn, office.office_id, office.office_id, document_id, direction="out"
    ):
        if done.change in _ENDED:
            by = f" ({done.by_document_id})" if done.by_document_id != document_id else ""
            raise LifecycleError(
                f"Văn bản {document_id} đã bị {_VI[done.change]} ngày {done.at:%Y-%m-%d}{by}",
                f"document {document_id} was {done.change} on {done.at:%Y-%m-%d}{by}",
                step=step,
            )
    return original


_VI = {"revoked": "thu hồi", "updated": "cập nhật", "replaced": "thay thế"}


def _read(office: Office, row: outbox_store.OutboxRow) -> edxml.Document:
    source = outbox_store.message_source(row, large.blob_store(office))
    data = source.read_bytes() if isinstance(source, Path) else source
    message = edxml.read(data).message
    assert isinstance(message, edxml.Document)  # an outbox "edoc" row holds a document
    return message


def _response_for(doc: edxml.Document) -> edxml.ResponseFor:
    code = doc.code
    return edxml.ResponseFor(
        organ_id=doc.sender.organ_id,
        code=f"{code.number if code else ''}/{code.notation if code else ''}",
        promulgation_date=doc.promulgation.date if doc.promulgation else None,
        document_id=doc.document_id,
    )


def _change_sent(
    office: Office,
    document_id: str,
    kind: edxml.BusinessDocType,
    reason: str,
    *,
    actor: str | None,
    header: dict[str, Any] | None = None,
    new: edxml.Document | None = None,
) -> Sent:
    change = CHANGE_OF[kind]
    step = f"lifecycle.{change}"
    reason = _reason(reason, step)
    with office.db.transaction() as conn:
        original_row = _sent_original(conn, office, document_id, step)
        if kind is _B.UPDATE and any(
            c.change == "updated"
            for c in changes_store.changes_to(
                conn, office.office_id, office.office_id, document_id, direction="out"
            )
        ):
            raise LifecycleError(
                f"Văn bản {document_id} đã được cập nhật một lần; hãy gửi văn bản thay thế",
                f"document {document_id} was updated once already; replace it instead",
                step=step,
            )
        original = _read(office, original_row)
        message = _message(office, original, kind, reason, header=header or {}, new=new)
        try:
            data = edxml.write(message)
        except edxml.EdxmlWriteError as exc:
            raise LifecycleError(
                f"Không lập được thông điệp {_VI[change]}: {exc.vi}",
                f"the {change} message cannot be written: {exc.en}",
                step=step,
            ) from exc
        row_id, _new = queue_within(conn, office, data, edxml.read(data, strict=True).message)
        recorded = _record_sent(conn, office, document_id, change, str(message.document_id),
                                row_id, list(original_row.recipients), reason, actor)
    return Sent((row_id,), recorded)


def _record_sent(conn: Any, office: Office, document_id: str, change: str, by_document_id: str,
                 outbox_id: int, to: list[str], reason: str | None,
                 actor: str | None) -> Change:
    """One change of ours sent (revoke, update, replace): its row in document_changes and
    its LIFECYCLE_SENT event, in the transaction that queued the message."""
    recorded = changes_store.record(
        conn,
        office_id=office.office_id,
        direction="out",
        issuer=office.office_id,
        document_id=document_id,
        change=change,
        outcome="sent",
        at=office.clock(),
        by_document_id=by_document_id,
        by_outbox_id=outbox_id,
        reason=reason,
    )
    audit.append(
        conn,
        office.office_id,
        audit.AuditEvent.LIFECYCLE_SENT,
        {
            "document_id": document_id,
            "change": change,
            "by_document_id": by_document_id,
            "outbox_id": outbox_id,
            "to": to,
            "reason": reason,
            "staff": actor or office.identity.staff,
        },
    )
    return recorded


def _message(
    office: Office,
    original: edxml.Document,
    kind: edxml.BusinessDocType,
    reason: str,
    *,
    header: dict[str, Any],
    new: edxml.Document | None,
) -> edxml.Document:
    """The lifecycle message: the original's header (or the new document) with the
    Bussiness block saying what it does, to the original's recipients, unsigned."""
    staff = None
    if office.identity.staff or office.identity.department:
        staff = edxml.StaffInfo(staff=office.identity.staff, department=office.identity.department)
    recipients = [org.organ_id for org in original.recipients]
    business = edxml.Bussiness(
        document_id=original.document_id if kind is not _B.REPLACE else None,
        doc_type=int(kind),
        reason=reason,
        paper=0,
        staff_info=staff,
        document_info=(
            edxml.BussinessDocumentInfo(document_info="1", document_receiver="0")
            if kind is _B.UPDATE
            else None
        ),
        replacements=(
            [edxml.ReplacementInfo(document_id=original.document_id, organ_ids=recipients)]
            if kind is _B.REPLACE
            else []
        ),
    )
    hop = edxml.TraceHeader(
        organ_id=office.office_id, timestamp=office.clock().astimezone(edxml.VN_TZ)
    )
    base = new if new is not None else original
    update: dict[str, Any] = {
        "signature": None,
        "trace": [hop],
        "business": business,
        "recipients": list(original.recipients),
        **header,
    }
    if new is None and "attachments" not in header:
        update["attachments"] = [] if kind is _B.REVOKE else list(original.attachments)
    if "attachments" in header and base.other_info is not None:
        update["other_info"] = base.other_info.model_copy(
            update={"appendixes": [a.name for a in header["attachments"][1:]]}
        )
    return base.model_copy(update=update)


# --- on receipt ------------------------------------------------------------------------


def document_arrived(
    conn: Any, office: Office, row: inbox_store.InboxRow, doc: edxml.Document
) -> list[Change]:
    """Apply a verified revoke, update or replace just stored as ``row`` to the stored
    original of ITS SENDER, in the storing transaction; nothing for a new document.

    The original row is never changed: a change row says what happened. It names the
    sender as the issuer, so a message naming another sender's document ("refused")
    never joins that document's chain.
    """
    kind = doc.business_doc_type
    if kind not in CHANGE_OF or doc.business is None:
        return []
    business = doc.business
    if kind is _B.REPLACE:
        targets = [r.document_id or "" for r in business.replacements] or [""]
    else:
        targets = [business.document_id or doc.document_id or ""]
    sender = doc.sender.organ_id
    now = office.clock()
    recorded: list[Change] = []
    for target in dict.fromkeys(targets):
        if issuer_of(target) != sender:
            outcome = "refused"
        elif changes_store.original_received(conn, office.office_id, sender, target) is None:
            outcome = "unknown-original"
        else:
            outcome = "applied"
        change = changes_store.record(
            conn,
            office_id=office.office_id,
            direction="in",
            issuer=sender,
            document_id=target,
            change=CHANGE_OF[kind],
            outcome=outcome,
            at=now,
            by_document_id=doc.document_id,
            by_inbox_id=row.id,
            reason=business.reason,
        )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.LIFECYCLE_RECEIVED,
            {
                "document_id": target,
                "from": sender,
                "change": change.change,
                "outcome": outcome,
                "by_document_id": doc.document_id,
                "inbox_id": row.id,
                "reason": business.reason,
            },
        )
        recorded.append(change)
    return recorded


def status_arrived(conn: Any, office: Office, msg: edxml.StatusMessage, now: dt.datetime) -> bool:
    """Record what a verified status says of a take-back, in the transaction that keeps
    it: a 13 from the sender of a document we received is "asked" (True: it is matched);
    a 15/16 from a recipient of one we asked back is "accepted"/"refused" (False: the
    recipient's status is then applied as any other)."""
    code = edxml.StatusCode.known(msg.status_code)
    document_id = msg.response_for.document_id or ""
    sender = msg.sender.organ_id
    if code is edxml.StatusCode.TAKE_BACK_REQUESTED:
        if changes_store.original_received(conn, office.office_id, sender, document_id) is None:
            return False
        _record_take_back(
            conn, office, "in", sender, document_id, "asked", msg.description, now, sender
        )
        return True
    if code in (edxml.StatusCode.CHANGE_ACCEPTED, edxml.StatusCode.CHANGE_REFUSED):
        asked = changes_store.changes_to(
            conn, office.office_id, office.office_id, document_id, direction="out"
        )
        if any(c.change == TAKE_BACK for c in asked):
            outcome = "accepted" if code is edxml.StatusCode.CHANGE_ACCEPTED else "refused"
            _record_take_back(
                conn,
                office,
                "out",
                office.office_id,
                document_id,
                outcome,
                msg.description,
                now,
                sender,
            )
    return False


def _record_take_back(
    conn: Any,
    office: Office,
    direction: str,
    issuer: str,
    document_id: str,
    outcome: str,
    reason: str | None,
    now: dt.datetime,
    counterpart: str,
) -> Change:
    change = changes_store.record(
        conn,
        office_id=office.office_id,
        direction=direction,
        issuer=issuer,
        document_id=document_id,
        change=TAKE_BACK,
        outcome=outcome,
        at=now,
        reason=reason,
    )
    audit.append(
        conn,
        office.office_id,
        audit.AuditEvent.TAKE_BACK,
        {
            "document_id": document_id,
            "direction": direction,
            "outcome": outcome,
            "counterpart": counterpart,
            "reason": reason,
        },
    )
    return change


def answer_take_back(
    office: Office,
    inbox_id: int,
    accept: bool,
    *,
    note: str | None = None,
    actor: str | None = None,
) -> Change:
    """The clerk answers a take-back asked of a received document: 15 (accepted) or 16
    (refused) is queued to its sender. Raises LifecycleError when no take-back of that
    document is waiting for an answer; nothing is queued then."""
    step = "lifecycle.answer_take_back"
    with office.db.transaction() as conn:
        row = inbox_store.incoming_by_id(conn, office.office_id, inbox_id)
        asked = (
            [
                c
                for c in changes_store.changes_to(
                    conn, office.office_id, row.sender, row.document_id, direction="in"
                )
                if c.change == TAKE_BACK
            ]
            if row is not None
            else []
        )
        if row is None or not asked or asked[-1].outcome != "asked":
            raise LifecycleError(
                f"Văn bản đến số {inbox_id} không có yêu cầu lấy lại nào đang chờ trả lời",
                f"received item {inbox_id} has no take-back request waiting for an answer",
                step=step,
            )
        if not accept and not (note or "").strip():
            raise LifecycleError(
                "Từ chối trả lại văn bản cần ghi lý do",
                "refusing to give a document back needs a reason",
                step=step,
            )
        document = inbox_store.verified_document(conn, row)
        fields = document.fields
        date = fields.promulgation_date
        answering = edxml.ResponseFor(
            organ_id=fields.sender,
            code=fields.code,
            promulgation_date=dt.date.fromisoformat(date) if date else None,
            document_id=fields.document_id,
        )
        code = edxml.StatusCode.CHANGE_ACCEPTED if accept else edxml.StatusCode.CHANGE_REFUSED
        queue_status(conn, office, answering, code, note)
        change = _record_take_back(
            conn,
            office,
            "in",
            row.sender,
            row.document_id,
            "accepted" if accept else "refused",
            note,
            office.clock(),
            row.sender,
        )
        audit.append(
            conn,
            office.office_id,
            audit.AuditEvent.CLERK_ACTION,
            {
                "document_id": row.document_id,
                "from": row.sender,
                "take_back": change.outcome,
                "note": note,
                "staff": actor or office.identity.staff,
            },
        )
    return change


# --- the chain, as the pages show it ---------------------------------------------------


@dataclass(frozen=True)
class ChainLine:
    """One link of a document's chain as a page shows it: what happened (or, for a
    replacement, that it replaces another), in words, and where the other end is."""

    change: Change
    #: "đã bị thay thế bởi" / "replaced by", "thay thế cho" / "replaces", "đã thu hồi" ...
    words: tuple[str, str]
    outcome: tuple[str, str]
    #: The document at the other end (the replacement, or the original it replaces).
    other_document_id: str | None
    #: Where that end (or the message that did it) is kept here: an outbox row on the
    #: sender's side, an inbox row on the receiver's; None when it never arrived.
    other_outbox_id: int | None = None
    other_inbox_id: int | None = None


def _line(change: Change, document_id: str, *, outbox_id: int | None = None,
          inbox_id: int | None = None) -> ChainLine:
    outcome = outcome_words(change.change, change.outcome)
    if change.document_id != document_id:  # this document replaces another
        return ChainLine(change, ("thay thế cho", "replaces"), outcome, change.document_id,
                         outbox_id, inbox_id)
    vi, en = change_words(change.change)
    other = change.by_document_id if change.by_document_id != document_id else None
    if other:
        vi, en = f"{vi} bởi", f"{en} by"
    return ChainLine(change, (vi, en), outcome, other, outbox_id, inbox_id)


def chain_sent(office: Office, document_id: str) -> tuple[ChainLine, ...]:
    """A document this office sent: what it did to it (replaced by which of its documents,
    revoked, updated, asked back and the answers), and, for a replacement, the original
    it replaces, each with the outbox row to link to."""
    lines: list[ChainLine] = []
    with office.db.read() as conn:
        for c in changes_store.changes_of(conn, office.office_id, document_id):
            if c.direction != "out" or c.issuer != office.office_id:
                continue
            if c.document_id != document_id:
                original = changes_store.original_sent(conn, office.office_id, c.document_id)
                lines.append(_line(c, document_id,
                                   outbox_id=original.id if original is not None else None))
            elif c.by_document_id not in (None, document_id):
                lines.append(_line(c, document_id, outbox_id=c.by_outbox_id))
            else:
                lines.append(_line(c, document_id))
    return tuple(lines)


def chain_received(office: Office, inbox_id: int) -> tuple[ChainLine, ...]:
    """A received item's chain: what its sender did to the document (replaced by which
    document, revoked, updated, asked back), a replacement's original (``unknown`` when it
    never arrived), and a message that named another sender's document (not applied),
    each with the inbox row to link to. Empty for an item that is not this office's."""
    lines: list[ChainLine] = []
    with office.db.read() as conn:
        row = inbox_store.incoming_by_id(conn, office.office_id, inbox_id)
        if row is None:
            return ()
        for c in changes_store.changes_of(conn, office.office_id, row.document_id):
            if c.direction != "in" or c.issuer != row.sender:
                continue
            if c.document_id != row.document_id:
                original = changes_store.original_received(
                    conn, office.office_id, c.issuer, c.document_id
                )
                lines.append(_line(c, row.document_id, inbox_id=original))
            else:
                lines.append(_line(c, row.document_id, inbox_id=c.by_inbox_id))
    return tuple(lines)


def take_back_waiting(office: Office, inbox_id: int) -> Change | None:
    """The take-back (13) asked of a received item and not answered yet, or None."""
    with office.db.read() as conn:
        row = inbox_store.incoming_by_id(conn, office.office_id, inbox_id)
        if row is None:
            return None
        asked = [
            c
            for c in changes_store.changes_to(
                conn, office.office_id, row.sender, row.document_id, direction="in"
            )
            if c.change == TAKE_BACK
        ]
    return asked[-1] if asked and asked[-1].outcome == "asked" else None


def marks_received(
    office: Office, inbox_ids: Sequence[int]
) -> dict[int, tuple[tuple[str, str], ...]]:
    """What the incoming list marks beside each item: what its sender did to the document
    (revoked, updated, replaced: applied ones), a take-back waiting, and "replaces" on a
    replacement; the words (Vietnamese, English) by inbox id, items without any left out."""
    marks: dict[int, tuple[tuple[str, str], ...]] = {}
    with office.db.read() as conn:
        for inbox_id in inbox_ids:
            row = inbox_store.incoming_by_id(conn, office.office_id, inbox_id)
            if row is None:
                continue
            words: list[tuple[str, str]] = []
            for c in changes_store.changes_of(conn, office.office_id, row.document_id):
                if c.direction != "in" or c.issuer != row.sender:
                    continue
                if c.document_id != row.document_id:
                    words.append(("bản thay thế", "a replacement"))
                elif c.change == TAKE_BACK:
                    if c.outcome == "asked":
                        words.append(change_words(TAKE_BACK))
                    elif words and words[-1] == change_words(TAKE_BACK):
                        words.pop()  # answered
                elif c.outcome == "applied":
                    words.append(change_words(c.change))
            if words:
                marks[inbox_id] = tuple(dict.fromkeys(words))
    return marks


#: The message that did a change, as the sent list names it.
_MESSAGE_WORDS: dict[str, tuple[str, str]] = {
    "revoked": ("thư thu hồi", "the revoke"),
    "updated": ("thư cập nhật", "the update"),
    "replaced": ("bản thay thế", "a replacement"),
}


def marks_sent(
    office: Office, rows: Sequence[tuple[int, str]]
) -> dict[int, tuple[tuple[str, str], ...]]:
    """What the sent list marks beside each outbox row (``(outbox_id, document_id)``):
    what this office did to the document since (replaced, revoked, updated, asked back),
    or, for the row that carried a revoke, update or replacement, which message it is."""
    marks: dict[int, tuple[tuple[str, str], ...]] = {}
    with office.db.read() as conn:
        for outbox_id, document_id in rows:
            words: list[tuple[str, str]] = []
            for c in changes_store.changes_of(conn, office.office_id, document_id):
                if c.direction != "out" or c.issuer != office.office_id:
                    continue
                if c.by_outbox_id == outbox_id:
                    words.append(_MESSAGE_WORDS.get(c.change, change_words(c.change)))
                elif c.document_id == document_id and c.change != TAKE_BACK:
                    words.append(change_words(c.change))
            if words:
                marks[outbox_id] = tuple(dict.fromkeys(words))
    return marks
