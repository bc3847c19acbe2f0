"""E-mail notices against a real SMTP server (aiosmtpd on 127.0.0.1): one message per new
or overdue document per member of staff with an address, never twice, none for accounts
without an address or disabled ones; a Vietnamese subject that decodes exactly; a server
that is down marks nothing sent, and the next pass sends it all; SMTP AUTH with the
password from the environment only.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from daemon_fixtures import Exchange
from sqlalchemy import func, select
from web_fixtures import PASSWORD

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.config import WebSettings
from edoc_exchange.daemon import Runner
from edoc_exchange.office import staff
from edoc_exchange.sandbox import free_port
from edoc_exchange.store.tables import notifications_sent

SUBJECT = "Kế hoạch tổ chức Ngày hội Đại đoàn kết toàn dân tộc"


@dataclass
class _Collect:
    """An SMTP handler that keeps every message it is given."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


class _Server:
    """aiosmtpd on a fixed local port, which a test can stop and start again."""

    def __init__(self, **kwargs: Any) -> None:
        self.port = free_port()
        self.handler = _Collect()
        self.kwargs = kwargs
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self.kwargs
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self, **more: Any) -> WebSettings:
        return WebSettings(smtp_host="127.0.0.1", smtp_port=self.port,
                           smtp_from="vanthu@namkhanh.gov.vn", **more)


@pytest.fixture
def smtp() -> Iterator[_Server]:
    server = _Server()
    server.start()
    yield server
    server.stop()


def _add(office: steps.Office, name: str, role: staff.Role, mail: str | None) -> staff.User:
    return staff.add_user(office.db, office.office_id, name, f"Cán bộ {name}", role, PASSWORD,
                          email=mail)


def _receive(ex: Exchange, *docs: edxml.Document) -> None:
    for doc in docs:
        steps.queue_message(ex.commune, edxml.write(doc), composed=True)
    assert steps.send_due(ex.commune).done == len(docs)
    assert steps.receive_documents(ex.district).done == len(docs)


def _sent_rows(ex: Exchange) -> int:
    with ex.district.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(notifications_sent)).scalar_one())


def _staff(ex: Exchange) -> None:
    office = ex.district
    _add(office, "vanthu", staff.Role.CLERK, "vanthu@bacha.gov.vn")
    _add(office, "chutich", staff.Role.LEADER, "chutich@bacha.gov.vn")
    _add(office, "vanthu2", staff.Role.CLERK, None)  # no address: nothing
    _add(office, "nghiviec", staff.Role.CLERK, "cu@bacha.gov.vn")
    staff.disable_user(office.db, "nghiviec")  # disabled: nothing
    _add(office, "chuyenvien", staff.Role.OFFICER, "cv@bacha.gov.vn")  # nothing assigned
    _add(office, "quantri", staff.Role.ADMIN, "it@bacha.gov.vn")  # accounts, not documents
    steps.refresh_directory(office)  # senders by name
    # what arrives from now on is new to every account above
    ex.clock.advance(minutes=5)


def test_one_notice_per_document_per_user_never_twice(exchange: Exchange, smtp: _Server) -> None:
    ex = exchange
    _staff(ex)
    late = ex.plan("41").model_copy(
        update={"due_date": dt.date.today() - dt.timedelta(days=2), "subject": "Báo cáo gấp"}
    )
    _receive(ex, ex.plan("40", subject=SUBJECT), late)

    report = steps.send_notices(ex.district, smtp.settings())
    # two new documents and one overdue, each to the văn thư and the chairman
    assert report.sent == 6
    assert len(smtp.handler.messages) == 6
    to = sorted(r for rs in smtp.handler.recipients for r in rs)
    assert to == ["chutich@bacha.gov.vn"] * 3 + ["vanthu@bacha.gov.vn"] * 3
    subjects = sorted(str(m["subject"]) for m in smtp.handler.messages)
    office_name = ex.district.identity.organ_name
    assert subjects.count(f"[{office_name}] Văn bản đến mới: {SUBJECT}") == 2
    assert subjects.count(f"[{office_name}] Văn bản đến mới: Báo cáo gấp") == 2
    assert subjects.count(f"[{office_name}] Văn bản quá hạn xử lý: Báo cáo gấp") == 2
    first = smtp.handler.messages[0]
    raw = first.as_bytes()
    assert b"=?utf-8?" in raw.split(b"\n\n", 1)[0].lower()  # RFC 2047 on the wire
    body = first.get_content()
    assert isinstance(body, str)
    assert "Nơi gửi: UBND xã Nậm Khánh" in body
    assert "DocumentId" in body
    assert _sent_rows(ex) == 6

    # the next pass: nothing new, nothing sent again
    assert steps.send_notices(ex.district, smtp.settings()).sent == 0
    assert len(smtp.handler.messages) == 6

    # a third document: only it is told, once per person
    _receive(ex, ex.plan("42", subject="Giấy mời họp"))
    again = steps.send_notices(ex.district, smtp.settings())
    assert again.sent == 2
    assert {kind for _user, kind, _doc in again.notices} == {"new"}
    assert len(smtp.handler.messages) == 8


def test_a_server_that_is_down_loses_nothing(exchange: Exchange, smtp: _Server) -> None:
    ex = exchange
    _staff(ex)
    smtp.stop()
    _receive(ex, ex.plan("50"))
    with pytest.raises(steps.MailError) as failed:
        steps.send_notices(ex.district, smtp.settings())
    assert failed.value.step == "web.smtp"
    assert "thử lại ở lượt sau" in failed.value.vi
    assert _sent_rows(ex) == 0

    # the daemon's pass logs it and goes on (no exception out of the inbound step)
    runner = Runner(ex.district, web=smtp.settings())
    runner.inbound_step()
    assert _sent_rows(ex) == 0

    smtp.start()
    runner.inbound_step()
    assert _sent_rows(ex) == 2
    assert len(smtp.handler.messages) == 2
    runner.inbound_step()
    assert len(smtp.handler.messages) == 2


def test_no_smtp_server_configured_sends_nothing(exchange: Exchange, smtp: _Server) -> None:
    ex = exchange
    _staff(ex)
    _receive(ex, ex.plan("60"))
    assert steps.send_notices(ex.district, WebSettings()).sent == 0
    assert smtp.handler.messages == []
    assert _sent_rows(ex) == 0


class _Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()
        ) == (self.user, self.password)
        return AuthResult(success=ok)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_password_comes_from_the_environment(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = exchange
    _staff(ex)
    _receive(ex, ex.plan("70"))
    server = _Server(
        authenticator=_Authenticator("edoc", "mat-khau-smtp"),
        auth_require_tls=False,
        auth_required=True,
    )
    server.start()
    try:
        settings = server.settings(smtp_user="edoc")
        monkeypatch.delenv("EDOC_SMTP_PASSWORD", raising=False)
        with pytest.raises(steps.MailError) as missing:
            steps.send_notices(ex.district, settings)
        assert "EDOC_SMTP_PASSWORD" in missing.value.vi
        assert _sent_rows(ex) == 0
        monkeypatch.setenv("EDOC_SMTP_PASSWORD", "mat-khau-smtp")
        assert steps.send_notices(ex.district, settings).sent == 2
        assert len(server.handler.messages) == 2
    finally:
        server.stop()
