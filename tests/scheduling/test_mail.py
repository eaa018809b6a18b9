"""Reminders by e-mail, against a real SMTP server on loopback: sent once, after the in-app
notification; a server that is down costs nothing in the app and is caught up later."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, update

from scheduling.config import SchedulingConfig, SmtpConfig
from scheduling.mail import Mailer
from scheduling.reminders import ReminderService, TickResult
from sessions.models import Account, ReminderMail
from tests.scheduling.conftest import Login, create, demo_ids, local, session_body
from tests.scheduling.test_reminders import notes_of
from tests.support import FakeClock
from web.config import Config, ConfigError
from web.keys import DB

SENDER = "Ban Tiếp công dân <tcd@example.gov.vn>"


@dataclass
class Inbox:
    """What the loopback SMTP server accepted, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"].addresses[0].addr_spec == address]


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started again on its port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mailing_service(
    client: TestClient[Any, Any], clock: FakeClock, server: SmtpServer, attempts: int = 5
) -> ReminderService:
    cfg = SmtpConfig(
        host="127.0.0.1", port=server.port, sender=SENDER, starttls=False, max_attempts=attempts
    )
    return ReminderService(client.app[DB], clock, SchedulingConfig(), mailer=Mailer(cfg))


async def give_addresses(client: TestClient[Any, Any]) -> None:
    """focal2 and the officer have an address; focal1 has none and is skipped."""
    async with client.app[DB]() as db, db.begin():
        for username in ("focal2", "officer"):
            await db.execute(
                update(Account)
                .where(Account.username == username)
                .values(email=f"{username}@example.gov.vn")
            )


async def test_reminders_and_alerts_are_emailed_once(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock, smtp: SmtpServer
) -> None:
    await give_addresses(client)
    ids = await demo_ids(client)
    sid = await create(await as_user("officer"), session_body(ids, local(2026, 11, 27, 8)))

    clock.now = local(2026, 11, 26, 12, 0)  # 3 hours before Thursday 15:00
    assert await mailing_service(client, clock, smtp).tick() == TickResult(2, 0, 1, 0)
    [mail] = smtp.inbox.messages
    assert mail["To"].addresses[0].addr_spec == "focal2@example.gov.vn"
    assert mail["From"].addresses[0].display_name == "Ban Tiếp công dân"
    assert str(mail["Subject"]).startswith("Nhắc kiểm tra kết nối: Điểm cầu phường Hòa Bình")
    assert mail["Date"] and mail["Message-ID"]
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    body = mail.get_content()
    assert body.startswith("Nhắc việc: Điểm cầu phường Hòa Bình cần kết nối và kiểm tra trước")
    assert "15:00 ngày 26/11/2026" in body
    assert await notes_of(client, "focal1", sid) != []  # in the app, though no address

    assert await mailing_service(client, clock, smtp).tick() == TickResult()  # a restart
    clock.now = local(2026, 11, 26, 15, 0)
    service = mailing_service(client, clock, smtp)
    assert await service.tick() == TickResult(0, 2, 2, 0)
    assert await service.tick() == TickResult()
    alerts = smtp.inbox.to("officer@example.gov.vn")
    assert sorted(str(m["Subject"]) for m in alerts) == [
        "Quá hạn kiểm tra kết nối: Điểm cầu phường Hòa Bình",
        "Quá hạn kiểm tra kết nối: Điểm cầu xã Tân Phú",
    ]
    assert all(m.get_content().startswith("Quá hạn: Điểm cầu") for m in alerts)
    assert len(smtp.inbox.messages) == 3


async def test_a_server_down_delays_the_mail_not_the_reminder(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock, smtp: SmtpServer
) -> None:
    await give_addresses(client)
    ids = await demo_ids(client)
    sid = await create(await as_user("officer"), session_body(ids, local(2026, 11, 27, 8)))
    smtp.stop()

    clock.now = local(2026, 11, 26, 12, 0)
    assert await mailing_service(client, clock, smtp).tick() == TickResult(2, 0, 0, 1)
    [note] = await notes_of(client, "focal2", sid)
    assert note.startswith("Nhắc việc: Điểm cầu phường Hòa Bình")
    async with client.app[DB]() as db:
        [row] = await db.scalars(select(ReminderMail))
    assert (row.attempts, row.delivered_at) == (1, None)
    assert row.last_error and "ConnectionRefusedError" in row.last_error

    smtp.start()
    clock.now = local(2026, 11, 26, 12, 1)
    assert await mailing_service(client, clock, smtp).tick() == TickResult(0, 0, 1, 0)
    [mail] = smtp.inbox.messages
    assert mail.get_content().startswith("Nhắc việc: Điểm cầu phường Hòa Bình")
    assert await mailing_service(client, clock, smtp).tick() == TickResult()
    assert await notes_of(client, "focal2", sid) == [note]  # never notified twice in the app
    async with client.app[DB]() as db:
        [row] = await db.scalars(select(ReminderMail))
    assert (row.attempts, row.delivered_at, row.last_error) == (2, clock.now, None)


async def test_a_mail_is_tried_at_most_max_attempts_times(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock, smtp: SmtpServer
) -> None:
    await give_addresses(client)
    ids = await demo_ids(client)
    await create(await as_user("officer"), session_body(ids, local(2026, 11, 27, 8)))
    smtp.stop()
    clock.now = local(2026, 11, 26, 12, 0)
    service = mailing_service(client, clock, smtp, attempts=2)
    assert await service.tick() == TickResult(2, 0, 0, 1)
    assert await service.tick() == TickResult(0, 0, 0, 1)
    smtp.start()
    assert await service.tick() == TickResult()
    assert smtp.inbox.messages == []


SMTP_ENV = {"TIEPDAN_SMTP_HOST": "smtp.example.gov.vn", "TIEPDAN_SMTP_FROM": SENDER}


def test_smtp_settings_from_the_environment() -> None:
    assert Config.from_env({}).scheduling.smtp is None
    env = SMTP_ENV | {
        "TIEPDAN_SMTP_PORT": "2525",
        "TIEPDAN_SMTP_USERNAME": "tcd",
        "TIEPDAN_SMTP_PASSWORD": "mật-khẩu",
        "TIEPDAN_SMTP_STARTTLS": "0",
    }
    assert Config.from_env(env).scheduling.smtp == SmtpConfig(
        host="smtp.example.gov.vn",
        port=2525,
        username="tcd",
        password="mật-khẩu",
        sender=SENDER,
        starttls=False,
    )
    assert Config.from_env(SMTP_ENV).scheduling.smtp == SmtpConfig(
        host="smtp.example.gov.vn", sender=SENDER
    )


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"TIEPDAN_SMTP_PORT": "smtp"}, "TIEPDAN_SMTP_PORT"),
        ({"TIEPDAN_SMTP_PORT": "70000"}, "TIEPDAN_SMTP_PORT"),
        ({"TIEPDAN_SMTP_STARTTLS": "yes"}, "TIEPDAN_SMTP_STARTTLS"),
        ({"TIEPDAN_SMTP_FROM": ""}, "TIEPDAN_SMTP_FROM"),
        ({"TIEPDAN_SMTP_FROM": "Ban Tiếp công dân"}, "TIEPDAN_SMTP_FROM"),
        ({"TIEPDAN_SMTP_HOST": "smtp://example.gov.vn"}, "TIEPDAN_SMTP_HOST"),
        ({"TIEPDAN_SMTP_PASSWORD": "secret"}, "TIEPDAN_SMTP_PASSWORD"),
    ],
)
def test_a_malformed_smtp_setting_is_named(extra: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Config.from_env(SMTP_ENV | extra)
