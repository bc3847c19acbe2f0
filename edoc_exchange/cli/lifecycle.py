"""``edoc revoke``, ``edoc update``, ``edoc replace``, ``edoc take-back`` and
``edoc answer-take-back``: a sent document's lifecycle from the command line, through the
same library calls (``office.lifecycle``) the pages use.

A replacement is a document of its own: new files, a number from the outgoing register,
the original's header unless ``--subject``/``--due`` say otherwise (the one door,
``office.outgoing.send_document``). The actor recorded is the operating-system account, as
for ``edoc send-document``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from .. import edxml
from .. import office as steps
from ..config import load_settings
from ..office import build_office, open_store
from ..office.lifecycle import (
    LifecycleError,
    answer_take_back,
    replace_with_files,
    revoke,
    take_back,
    update,
)
from ..office.outgoing import DraftError
from ._app import ConfigOption, app, exits_on_error, out
from .documents import _actor, _files, _named, _refused

ReasonOption = Annotated[str, typer.Option("--reason", help="Lý do. The reason (required).")]


@app.command("revoke")
@exits_on_error
def revoke_cmd(document_id: str, reason: ReasonOption, config: ConfigOption = None) -> None:
    """Thu hồi văn bản đã gửi. Revoke a document this office sent (its recipients are
    told with a BussinessDocType 1 message)."""
    office = build_office(load_settings(config), receiving=False)
    sent = revoke(office, document_id, reason, actor=_actor())
    out.print(
        f"Đã xếp hàng thư thu hồi / revoke queued: {document_id} "
        f"(outbox #{', #'.join(map(str, sent.outbox_ids))})"
    )


@app.command("take-back")
@exits_on_error
def take_back_cmd(document_id: str, reason: ReasonOption, config: ConfigOption = None) -> None:
    """Yêu cầu lấy lại văn bản đã gửi (13). Ask the recipients to give a sent document back
    (status 13); they answer 15 (accepted) or 16 (refused)."""
    office = build_office(load_settings(config), receiving=False)
    sent = take_back(office, document_id, reason, actor=_actor())
    out.print(
        f"Đã xếp hàng yêu cầu lấy lại (13) / take-back queued: {document_id} "
        f"(outbox #{', #'.join(map(str, sent.outbox_ids))})"
    )


@app.command("answer-take-back")
@exits_on_error
def answer_take_back_cmd(
    document_id: str,
    accept: Annotated[
        bool,
        typer.Option("--accept/--refuse", help="Đồng ý (15) hay từ chối (16). 15 or 16."),
    ],
    note: Annotated[str | None, typer.Option(
        "--note", help="Ghi chú; bắt buộc khi từ chối. A note; the reason, to refuse.")] = None,
    sender: Annotated[
        str | None, typer.Option("--from", help="Nơi gửi. The sender, when several used it.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Trả lời yêu cầu lấy lại. Answer a take-back asked of a received document."""
    office = build_office(load_settings(config), receiving=False)
    details = steps.document_details(office.db, office.office_id, document_id, sender=sender)
    if details.received is None:
        raise LifecycleError(
            f"Không có văn bản đến nào mang mã {document_id}",
            f"no received document has DocumentId {document_id}",
            step="lifecycle.answer_take_back",
        )
    answer_take_back(office, details.received.id, accept, note=note, actor=_actor())
    answer = edxml.StatusCode.CHANGE_ACCEPTED if accept else edxml.StatusCode.CHANGE_REFUSED
    code = answer.value
    out.print(f"Đã xếp hàng trả lời {code} / answer {code} queued: {document_id}")


AttachOption = Annotated[list[Path] | None, typer.Option(
    "--attach", help="Tệp đính kèm (lặp lại được) / an attachment (repeatable).")]
DueOption = Annotated[
    str | None, typer.Option("--due", help="Hạn xử lý mới / new due yyyy-mm-dd.")
]
SubjectOption = Annotated[
    str | None, typer.Option("--subject", help="Trích yếu mới / new subject.")
]


@app.command("update")
@exits_on_error
def update_cmd(
    document_id: str,
    reason: ReasonOption,
    subject: SubjectOption = None,
    content: Annotated[str | None, typer.Option("--content", help="Nội dung / content.")] = None,
    due: DueOption = None,
    main: Annotated[Path | None, typer.Option(
        "--main", dir_okay=False, help="Văn bản chính mới / a new main file (PDF or DOCX).")
    ] = None,
    attach: AttachOption = None,
    config: ConfigOption = None,
) -> None:
    """Cập nhật văn bản đã gửi. Update a sent document (BussinessDocType 2, same
    DocumentId): a new subject, content, due date, or new files (--main, --attach)."""
    due_date = None
    if due is not None:
        try:
            due_date = dt.date.fromisoformat(due.strip())
        except ValueError:
            raise _refused("--due", f"Hạn xử lý '{due}' không phải ngày (yyyy-mm-dd)",
                           f"due date '{due}' is not a date (yyyy-mm-dd)") from None
    attachments = list(attach or [])
    if attachments and main is None:
        raise _refused("--attach", "Tệp đính kèm mới cần cả văn bản chính mới (--main)",
                       "new attachments need the new main file too (--main)")
    settings = load_settings(config)
    max_bytes = settings.web.upload_max_bytes
    files = _files(main, "--main", attachments, max_bytes) if main is not None else []
    office = build_office(settings, receiving=False)
    try:
        sent = update(office, document_id, reason, subject=subject, content=content,
                      due_date=due_date, files=files, actor=_actor(), max_file_bytes=max_bytes)
    except DraftError as exc:
        named = _named(exc, attachments)
        raise DraftError(named.vi, named.en,
                         step="--main" if named.step == "MAIN_FILE" else named.step) from None
    out.print(
        f"Đã xếp hàng thư cập nhật / update queued: {document_id} "
        f"(outbox #{', #'.join(map(str, sent.outbox_ids))})"
    )


@app.command("replace")
@exits_on_error
def replace_cmd(
    document_id: str,
    main: Annotated[Path, typer.Argument(
        metavar="MAIN_FILE", help="Văn bản chính của bản thay thế / the new main file.")],
    reason: ReasonOption,
    attach: AttachOption = None,
    subject: SubjectOption = None,
    due: DueOption = None,
    number: Annotated[int | None, typer.Option(
        "--number", help="Số đã đăng ký / a number (default: the register's next).")] = None,
    config: ConfigOption = None,
) -> None:
    """Thay thế văn bản đã gửi. Replace a sent document by a new version: a document of its
    own (new number, new files) whose Bussiness block (type 3) names the original."""
    settings = load_settings(config)
    max_bytes = settings.web.upload_max_bytes
    attachments = list(attach or [])
    main_file, *uploads = _files(main, "MAIN_FILE", attachments, max_bytes)
    db = open_store(settings)
    try:
        office = build_office(settings, db=db, receiving=False, signer="settings")
        try:
            sent = replace_with_files(
                office, document_id, main_file, uploads, reason=reason, subject=subject,
                due_date=due, number=number, actor=_actor(), max_file_bytes=max_bytes,
            )
        except DraftError as exc:
            raise _named(exc, attachments) from None
    finally:
        db.dispose()
    out.print(
        f"Đã xếp hàng văn bản thay thế / replacement queued: {sent.change.by_document_id} "
        f"thay thế / replaces {document_id} (outbox #{sent.outbox_ids[0]})"
    )
