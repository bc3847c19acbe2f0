"""E-mail notices: each member of staff with an address is told of new documents and of
documents past their due date, once each, through the office's SMTP server.

Who is told what: văn thư and lãnh đạo hear of every document of the office, a chuyên
viên only of the documents assigned to them, an administrator of none (accounts are not
documents); a disabled account or one without an address hears nothing. A notice is
recorded in ``notifications_sent`` only after the SMTP server accepted it, so a server that
is down or refuses loses nothing: the next pass sends what is still unsent (a crash between
the two may send one notice twice, never none). "New" means received after the account was
made: a new account is not flooded with the office's history.

The SMTP password comes from the environment (``EDOC_SMTP_PASSWORD``), never from the
configuration file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid
from typing import Any

from ..config import WebSettings
from ..errors import EdocError
from ..store import Role
from ..store import directory as directory_store
from ..store import notices as notices_store
from ..store import staff as staff_store
from ..vntime import VN_TZ
from ._office import Office

__all__ = ["PASSWORD_VARIABLE", "MailError", "MailReport", "mail_configured", "send_notices"]

log = logging.getLogger("edoc.office")

#: The environment variable holding the SMTP password.
PASSWORD_VARIABLE = "EDOC_SMTP_PASSWORD"  # noqa: S105 (its name, not a secret)
#: Seconds an SMTP connection or answer may take (a weak link must not hang a pass).
SMTP_TIMEOUT = 30.0


class MailError(EdocError):
    """The notices could not be sent (the SMTP server is unreachable, refuses, or the
    configuration is incomplete); what was not sent is sent at the next pass."""


@dataclass
class MailReport:
    """What one pass of :func:`send_notices` did."""

    sent: int = 0
    #: (username, kind, document id) of each notice sent, in order.
    notices: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Notice:
    user_id: int
    username: str
    kind: str
    row: notices_store.NoticeRow
    message: Message


def mail_configured(settings: WebSettings) -> bool:
    """Whether ``[web]`` names an SMTP server (no server: no e-mail, nothing else changes)."""
    return bool(settings.smtp_host)


def _sender(settings: WebSettings) -> str:
    return settings.smtp_from or settings.smtp_user or f"edoc@{settings.smtp_host}"


def _link(settings: WebSettings, inbox_id: int) -> str | None:
    if not settings.base_url:
        return None
    return f"{settings.base_url.rstrip('/')}/incoming/{inbox_id}"


def _message(
    office: Office,
    settings: WebSettings,
    to: tuple[str, str],
    kind: str,
    row: notices_store.NoticeRow,
    sender_name: str,
) -> Message:
    subject = row.subject or row.document_id
    received = row.received_at.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
    if kind == notices_store.NEW:
        title_vi, title_en = "Văn bản đến mới", "New incoming document"
    else:
        title_vi, title_en = "Văn bản quá hạn xử lý", "Document past its due date"
    lines = [
        f"{title_vi}: {subject}",
        f"Nơi gửi: {sender_name}",
        f"Số/ký hiệu (DocumentId): {row.document_id}",
        f"Nhận lúc: {received}",
    ]
    if row.due:
        lines.append(f"Hạn xử lý: {row.due}")
    link = _link(settings, row.inbox_id)
    if link:
        lines.append(f"Xem văn bản: {link}")
    lines += [
        "",
        f"{title_en}: {subject}",
        f"From: {sender_name}; received {received}" + (f"; due {row.due}" if row.due else ""),
        "",
        f"— {office.identity.organ_name} (edoc-exchange)",
    ]
    # The classic email API on purpose: the newer one (EmailMessage) drops the space
    # between two encoded words when it folds a long Vietnamese subject (Python 3.11), and
    # "đến mới" arrives as "đếnmới". Header() encodes whole words and folds between them.
    message = MIMEText("\n".join(lines), "plain", "utf-8")
    headers: Any = message  # typeshed types header values as str; a Header is allowed
    headers["Subject"] = Header(f"[{office.identity.organ_name}] {title_vi}: {subject}", "utf-8")
    message["From"] = formataddr((office.identity.organ_name, _sender(settings)))
    message["To"] = formataddr(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=_sender(settings).rpartition("@")[2] or None)
    return message


def _pending(
    office: Office, settings: WebSettings, today: dt.date, per_user: int
) -> list[_Notice]:
    """Every notice not yet sent, at most ``per_user`` of each kind per user."""
    found: list[_Notice] = []
    with office.db.read() as conn:
        names = directory_store.names(conn)
        for user in staff_store.list_users(conn, office.office_id):
            if user.disabled or not user.email or user.role is Role.ADMIN:
                continue
            assigned_only = user.role is Role.OFFICER
            rows = [
                (notices_store.NEW, row)
                for row in notices_store.unsent_new(
                    conn, office.office_id, user.id, since=user.created_at,
                    assigned_only=assigned_only, limit=per_user,
                )
            ] + [
                (notices_store.OVERDUE, row)
                for row in notices_store.unsent_overdue(
                    conn, office.office_id, user.id, today=today,
                    assigned_only=assigned_only, limit=per_user,
                )
            ]
            for kind, row in rows:
                sender = row.sender_name or names.get(row.sender) or row.sender
                message = _message(
                    office, settings, (user.full_name, user.email), kind, row, sender
                )
                found.append(_Notice(user.id, user.username, kind, row, message))
    return found


def _connect(settings: WebSettings, password: str | None) -> smtplib.SMTP:
    assert settings.smtp_host is not None
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if settings.smtp_user and password is None:
        raise MailError(
            f"Có [web] smtp_user nhưng thiếu mật khẩu: đặt biến môi trường {PASSWORD_VARIABLE}",
            f"[web] smtp_user is set but no password: set the environment variable "
            f"{PASSWORD_VARIABLE}",
            step="web.smtp_user",
        )
    try:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
        try:
            if settings.smtp_starttls:
                server.starttls(context=ssl.create_default_context())
            if settings.smtp_user and password is not None:
                server.login(settings.smtp_user, password)
        except BaseException:
            server.close()
            raise
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(
            f"Không gửi được thư qua máy chủ SMTP {where}: {exc}; sẽ thử lại ở lượt sau",
            f"cannot send mail through the SMTP server {where}: {exc}; retried at the next pass",
            step="web.smtp",
        ) from exc
    return server


def send_notices(
    office: Office,
    settings: WebSettings,
    *,
    today: dt.date | None = None,
    per_user: int = 20,
    password: str | None = None,
) -> MailReport:
    """Send every notice not yet sent; record each one the server accepted.

    Nothing is done when ``[web]`` names no SMTP server, or when no notice is due (no
    connection is opened). Raises :class:`MailError` when the server cannot be reached or
    fails part-way (the notices it accepted before are recorded; the rest wait for the
    next pass). A recipient address the server refuses is skipped and logged.
    ``password``: default the environment variable ``EDOC_SMTP_PASSWORD``.
    """
    report = MailReport()
    if not mail_configured(settings):
        return report
    day = today or office.clock().astimezone(VN_TZ).date()
    pending = _pending(office, settings, day, per_user)
    if not pending:
        return report
    secret = password if password is not None else os.environ.get(PASSWORD_VARIABLE)
    server = _connect(settings, secret)
    try:
        for notice in pending:
            try:
                server.send_message(notice.message)
            except smtplib.SMTPRecipientsRefused as exc:
                log.warning("mail: %s refused by the SMTP server: %s", notice.username, exc)
                continue
            except (OSError, smtplib.SMTPException) as exc:
                raise MailError(
                    f"Máy chủ SMTP ngừng nhận thư sau {report.sent} thư: {exc}; phần còn lại "
                    "gửi ở lượt sau",
                    f"the SMTP server stopped accepting mail after {report.sent} messages: "
                    f"{exc}; the rest is sent at the next pass",
                    step="web.smtp",
                ) from exc
            with office.db.transaction() as conn:
                notices_store.mark_sent(
                    conn,
                    user_id=notice.user_id,
                    kind=notice.kind,
                    inbox_id=notice.row.inbox_id,
                    now=office.clock(),
                )
            report.sent += 1
            report.notices.append((notice.username, notice.kind, notice.row.document_id))
    finally:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            server.close()
    if report.sent:
        log.info("mail: %d notice(s) sent", report.sent)
    return report
