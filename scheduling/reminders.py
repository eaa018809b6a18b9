"""Readiness reminders: a lead time before the deadline the focal staff of endpoints not yet
passed are reminded; at the deadline the session's reception officer is alerted to each
overdue endpoint. Each reminder is recorded (`reminders_sent`) and so sent once, across
restarts; a reschedule (a new deadline) reminds again. Time comes from the injected clock.

With a `Mailer`, each reminder is also e-mailed to those of its recipients who have an address:
the mails are written with the reminder (`reminder_mails`, an outbox) and delivered after that
commits; a failed one is logged, recorded on its row and tried again on later ticks, up to
`SmtpConfig.max_attempts` times, while the session has not started."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from scheduling import notify
from scheduling.config import SchedulingConfig
from scheduling.mail import Mailer
from scheduling.readiness import deadline_of
from sessions.db import transaction
from sessions.errors import DuplicateKey
from sessions.models import (
    Account,
    Endpoint,
    Readiness,
    ReadinessState,
    ReceptionSession,
    ReminderKind,
    ReminderMail,
    SentReminder,
    SessionState,
)

Clock = Callable[[], datetime]

# The deadline is at most a month of holidays before the session; look no further ahead.
HORIZON = timedelta(days=40)


@dataclass(frozen=True, slots=True)
class TickResult:
    reminders: int = 0
    alerts: int = 0
    mails: int = 0  # e-mails delivered in this pass
    mail_failures: int = 0  # e-mails tried and not accepted in this pass


@dataclass(frozen=True, slots=True)
class _Due:
    kind: ReminderKind
    session: ReceptionSession
    endpoint: Endpoint
    deadline: datetime
    late: bool
    state: ReadinessState


class ReminderService:
    """Owns one background task; `tick()` does one pass and is what tests call."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        config: SchedulingConfig,
        log: logging.Logger | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        self._factory = factory
        self._mailer = mailer
        self._clock = clock
        self._config = config
        self._log = log or logging.getLogger("tiepdan.scheduling")
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="readiness-reminders")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # one bad pass must not end the service
                self._log.exception("readiness reminder pass failed")
            # The interval between passes, not a wait for a condition.
            await asyncio.sleep(self._config.tick_seconds)

    async def tick(self) -> TickResult:
        now = self._clock()
        async with self._factory() as db:
            sessions = await self._upcoming(db, now)
        reminders = alerts = 0
        for s in sessions:
            r, a = await self._session(s, now)
            reminders, alerts = reminders + r, alerts + a
        # After every session's reminders have committed (side effects after commit).
        mails, failures = await self._deliver(now) if self._mailer else (0, 0)
        return TickResult(reminders, alerts, mails, failures)

    async def _upcoming(self, db: AsyncSession, now: datetime) -> list[ReceptionSession]:
        rows = await db.scalars(
            select(ReceptionSession)
            .options(selectinload(ReceptionSession.endpoints))
            .where(
                ReceptionSession.state == SessionState.SCHEDULED,
                ReceptionSession.starts_at > now,
                ReceptionSession.starts_at <= now + HORIZON,
            )
            .order_by(ReceptionSession.starts_at)
        )
        return list(rows)

    async def _session(self, s: ReceptionSession, now: datetime) -> tuple[int, int]:
        """One transaction per session: a failure (say, another process sending the same
        reminder first, caught by the unique key) costs only this session's pass."""
        try:
            async with transaction(self._factory) as db:
                due = await self._due(db, s, now)
                sent = [await self._send(db, d, now) for d in due]
        except DuplicateKey:
            self._log.info("reminder already sent by another process", extra={"session": s.id})
            return 0, 0
        reminders = sum(1 for d, ok in zip(due, sent, strict=True) if ok and _is_reminder(d))
        alerts = sum(1 for d, ok in zip(due, sent, strict=True) if ok and not _is_reminder(d))
        return reminders, alerts

    async def _due(self, db: AsyncSession, s: ReceptionSession, now: datetime) -> list[_Due]:
        deadline = await deadline_of(db, s.starts_at, self._config)
        if now < deadline - self._config.reminder_lead:
            return []
        rows = {
            r.endpoint_id: r
            for r in await db.scalars(select(Readiness).where(Readiness.session_id == s.id))
        }
        out: list[_Due] = []
        for link in s.endpoints:
            row = rows.get(link.endpoint_id)
            state = row.state if row else ReadinessState.PENDING
            if state is ReadinessState.PASSED:
                continue
            ep = await db.get(Endpoint, link.endpoint_id)
            assert ep is not None  # a foreign key
            late = row.scheduled_late if row else False
            out.append(_Due(ReminderKind.FOCAL_REMINDER, s, ep, deadline, late, state))
            # A late-scheduled check was due at once and has no fair deadline to miss.
            if now >= deadline and not late:
                out.append(_Due(ReminderKind.OVERDUE_ALERT, s, ep, deadline, late, state))
        return out

    async def _send(self, db: AsyncSession, d: _Due, now: datetime) -> bool:
        """Send unless already sent; True when sent now."""
        existing = await db.scalar(
            select(SentReminder.id).where(
                SentReminder.kind == d.kind,
                SentReminder.session_id == d.session.id,
                SentReminder.endpoint_id == d.endpoint.id,
                SentReminder.deadline == d.deadline,
            )
        )
        if existing is not None:
            return False
        if _is_reminder(d):
            to = await notify.focal_staff(db, [d.endpoint.id])
        else:
            to = await notify.officers_of(db, d.session)
        count = await notify.send(db, to, self._text(d), d.kind.value, now, d.session.id)
        sent = SentReminder(
            kind=d.kind,
            session_id=d.session.id,
            endpoint_id=d.endpoint.id,
            deadline=d.deadline,
            sent_at=now,
            recipients=count,
        )
        db.add(sent)
        await db.flush()
        if self._mailer is not None:
            await self._enqueue(db, sent, to, d, now)
        self._log.info(
            "readiness reminder sent",
            extra={
                "event": {
                    "kind": d.kind.value,
                    "session": d.session.id,
                    "endpoint": d.endpoint.id,
                    "recipients": count,
                }
            },
        )
        return True

    async def _enqueue(
        self, db: AsyncSession, sent: SentReminder, to: list[int], d: _Due, now: datetime
    ) -> None:
        """The reminder's e-mails, to recipients with an address; delivered after commit."""
        accounts = await db.scalars(select(Account).where(Account.id.in_(to), Account.email != ""))
        subject, body = _subject(d), self._text(d)
        db.add_all(
            ReminderMail(
                reminder_id=sent.id,
                account_id=a.id,
                address=a.email.strip(),
                subject=subject,
                body=body,
                created_at=now,
            )
            for a in accounts
            if a.email.strip()
        )
        await db.flush()

    async def _deliver(self, now: datetime) -> tuple[int, int]:
        """Every mail not yet delivered, still worth sending, with attempts left."""
        assert self._mailer is not None
        limit = self._mailer.max_attempts
        async with self._factory() as db:
            pending = list(
                await db.execute(
                    select(ReminderMail.id, ReminderMail.attempts, Account.full_name)
                    .join(SentReminder, SentReminder.id == ReminderMail.reminder_id)
                    .join(ReceptionSession, ReceptionSession.id == SentReminder.session_id)
                    .join(Account, Account.id == ReminderMail.account_id)
                    .where(
                        ReminderMail.delivered_at.is_(None),
                        ReminderMail.attempts < limit,
                        ReceptionSession.starts_at > now,  # a reminder after the start is noise
                    )
                    .order_by(ReminderMail.id)
                )
            )
        delivered = failed = 0
        for mail_id, attempts, name in pending:
            ok = await self._deliver_one(mail_id, attempts, name, now)
            if ok is not None:
                delivered, failed = delivered + ok, failed + (not ok)
        return delivered, failed

    async def _deliver_one(
        self, mail_id: int, attempts: int, name: str, now: datetime
    ) -> bool | None:
        """True when accepted, False when not, None when another process took it first."""
        assert self._mailer is not None
        # Claim the attempt before sending: two processes never send the same mail at once,
        # and a crash mid-send costs an attempt rather than looping forever.
        async with transaction(self._factory) as db:
            claimed = await db.execute(
                update(ReminderMail)
                .where(
                    ReminderMail.id == mail_id,
                    ReminderMail.attempts == attempts,
                    ReminderMail.delivered_at.is_(None),
                )
                .values(attempts=attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            mail = await db.get(ReminderMail, mail_id)
            assert mail is not None
        error = await self._try_send(mail, name, now)
        async with transaction(self._factory) as db:
            values = {"last_error": error} if error else {"delivered_at": now, "last_error": None}
            await db.execute(update(ReminderMail).where(ReminderMail.id == mail_id).values(values))
        return error is None

    async def _try_send(self, mail: ReminderMail, name: str, now: datetime) -> str | None:
        """None when the server accepted the mail, else why not."""
        assert self._mailer is not None
        try:
            await self._mailer.send(
                self._mailer.compose(name, mail.address, mail.subject, mail.body, now)
            )
        except (OSError, ValueError, smtplib.SMTPException) as exc:
            self._log.warning(
                "reminder e-mail not delivered",
                extra={"event": {"mail": mail.id, "attempt": mail.attempts, "error": str(exc)}},
            )
            return f"{type(exc).__name__}: {exc}"[:1000]
        self._log.info("reminder e-mailed", extra={"event": {"mail": mail.id}})
        return None

    def _text(self, d: _Due) -> str:
        tz = self._config.tz
        due = d.deadline.astimezone(tz)
        start = d.session.starts_at.astimezone(tz)
        session = f"phiên “{d.session.title}” (bắt đầu {start:%H:%M} ngày {start:%d/%m/%Y})"
        if d.kind is ReminderKind.FOCAL_REMINDER:
            if d.late:
                return (
                    f"Cần kiểm tra ngay: {d.endpoint.name} tham gia {session}, được lên lịch "
                    f"sau hạn kiểm tra {due:%H:%M} ngày {due:%d/%m/%Y}. Hãy kết nối và kiểm tra "
                    "điểm cầu càng sớm càng tốt."
                )
            return (
                f"Nhắc việc: {d.endpoint.name} cần kết nối và kiểm tra trước {due:%H:%M} ngày "
                f"{due:%d/%m/%Y} cho {session}."
            )
        what = "kiểm tra không đạt" if d.state is ReadinessState.FAILED else "chưa kiểm tra"
        phone = f" Liên hệ: {d.endpoint.contact_phone}." if d.endpoint.contact_phone else ""
        return (
            f"Quá hạn: {d.endpoint.name} {what} kết nối cho {session}; hạn là {due:%H:%M} "
            f"ngày {due:%d/%m/%Y}.{phone}"
        )


def _subject(d: _Due) -> str:
    if d.kind is ReminderKind.OVERDUE_ALERT:
        return f"Quá hạn kiểm tra kết nối: {d.endpoint.name}"
    return f"Nhắc kiểm tra kết nối: {d.endpoint.name} – {d.session.title}"


def _is_reminder(d: _Due) -> bool:
    return d.kind is ReminderKind.FOCAL_REMINDER
