"""Reminders by e-mail: plain-text UTF-8 messages sent with `smtplib` in a worker thread, so a
slow or absent SMTP server never blocks the event loop."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from datetime import datetime
from email.contentmanager import raw_data_manager
from email.header import Header
from email.message import EmailMessage
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from scheduling.config import SmtpConfig

SIGNATURE = "\n\n--\nHệ thống tiếp công dân trực tuyến. Thư gửi tự động, xin đừng trả lời."


class Mailer:
    """Sends one message per SMTP connection: reminders are few, and a connection held open
    between ticks would only go stale."""

    def __init__(self, config: SmtpConfig, log: logging.Logger | None = None) -> None:
        self._config = config
        self._log = log or logging.getLogger("tiepdan.scheduling.mail")

    @property
    def max_attempts(self) -> int:
        return self._config.max_attempts

    def compose(
        self, name: str, address: str, subject: str, text: str, now: datetime
    ) -> EmailMessage:
        # The compat32 policy and `Header`: the default policy's folder (CPython 3.11) drops
        # the space where it splits a long non-ASCII Subject into encoded-words ("Điểmcầu"),
        # cf. python/cpython#144156; `Header` keeps spaces inside the encoded-words.
        msg = EmailMessage(policy=compat32)
        sender_name, sender_addr = parseaddr(self._config.sender)
        msg["From"] = formataddr((sender_name, sender_addr), "utf-8")
        msg["To"] = formataddr((name, address), "utf-8")
        msg["Subject"] = Header(subject, "utf-8")
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = make_msgid(domain=sender_addr.rpartition("@")[2] or "localhost")
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        msg.set_content(
            text + SIGNATURE,
            charset="utf-8",
            cte="quoted-printable",  # 7-bit safe: no need for the server's 8BITMIME
            content_manager=raw_data_manager,
        )
        return msg

    async def send(self, msg: EmailMessage) -> None:
        """Raises `smtplib.SMTPException` or `OSError` when the message was not accepted."""
        await asyncio.to_thread(self._send_blocking, msg)

    def _send_blocking(self, msg: EmailMessage) -> None:
        cfg = self._config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
            smtp.send_message(msg)
