"""``edoc revoke``, ``edoc take-back`` and ``edoc answer-take-back``: a sent document's
lifecycle from the command line, through the same library calls (``office.lifecycle``).

Replacing and updating need a new document or new fields: they stay library calls (and
the pages' job) for now. The actor recorded is the operating-system account, as for
``edoc send-document``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import edxml
from .. import office as steps
from ..config import load_settings
from ..office import build_office
from ..office.lifecycle import LifecycleError, answer_take_back, revoke, take_back
from ._app import ConfigOption, app, exits_on_error, out
from .documents import _actor

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
    note: Annotated[str | None, typer.Option("--note")] = None,
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
