"""What scheduling adds when a session is created or changed: no past start, no double
booking, readiness rows in step, and word to the people concerned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling import conflicts, notify, readiness
from scheduling.config import SchedulingConfig
from sessions.errors import Invalid
from sessions.models import Attendee, ReceptionSession, SessionState
from sessions.receptions import EDITABLE, PlanCheck, Problems, SessionInput

# Input fields that change who or what is booked, and when.
BOOKING_FIELDS = ("chair_id", "central_endpoint_id", "starts_at", "ends_at", "endpoint_ids")


def _books(data: SessionInput, created: bool) -> bool:
    changed = any(getattr(data, f) is not None for f in BOOKING_FIELDS)
    return created or changed or data.state is SessionState.SCHEDULED


def _plan(s: ReceptionSession) -> conflicts.Booking:
    eps = frozenset({s.central_endpoint_id, *(e.endpoint_id for e in s.endpoints)})
    return conflicts.Booking(s.id, s.title, s.chair_id, eps, s.starts_at, s.ends_at)


def plan_check(
    data: SessionInput, now: datetime, cfg: SchedulingConfig, created: bool
) -> PlanCheck:
    """The store's extra check for a plan being saved: what `on_saved` refuses, found with
    every other problem of the input so that a form shows them all at once."""

    async def check(
        db: AsyncSession, s: ReceptionSession, endpoint_ids: tuple[int, ...], out: Problems
    ) -> None:
        if s.starts_at is None or out.has("starts_at"):
            return
        if (created or data.starts_at is not None) and s.starts_at <= now:
            out.add(
                "starts_at",
                "phải sau thời điểm hiện tại",
                "Không thể lên lịch phiên bắt đầu trong quá khứ.",
            )
        if s.chair_id is None or s.central_endpoint_id is None or s.ends_at is None:
            return
        if out.has("ends_at") or not (s.state in EDITABLE and _books(data, created)):
            return
        eps = frozenset({s.central_endpoint_id, *endpoint_ids})
        # A new session has no id yet: 0 is no session's.
        plan = conflicts.Booking(s.id or 0, s.title, s.chair_id, eps, s.starts_at, s.ends_at)
        found = await conflicts.clashes_by_field(db, plan, s.central_endpoint_id, cfg.tz)
        for key, texts in found.items():
            said = "; ".join(texts)
            out.add(key, f"trùng lịch: {said}", f"Trùng lịch: {said}.", conflict=True)

    return check


async def on_saved(
    db: AsyncSession,
    s: ReceptionSession,
    data: SessionInput,
    now: datetime,
    cfg: SchedulingConfig,
    created: bool,
) -> None:
    """Call inside the transaction that saved `s` (its children loaded); raising rolls the
    whole change back."""
    if (created or data.starts_at is not None) and s.starts_at <= now:
        raise Invalid(
            "Không thể lên lịch phiên bắt đầu trong quá khứ.",
            {"starts_at": "phải sau thời điểm hiện tại"},
        )
    if s.state in EDITABLE and _books(data, created):
        await conflicts.check(db, _plan(s), s.central_endpoint_id, cfg.tz)
    rescheduled = data.starts_at is not None and not created
    if created or rescheduled or data.endpoint_ids is not None:
        await readiness.sync(db, s, now, cfg, rescheduled)
    if not created:
        await _tell_concerned(db, s, data, now, cfg)


async def _tell_concerned(
    db: AsyncSession, s: ReceptionSession, data: SessionInput, now: datetime, cfg: SchedulingConfig
) -> None:
    """Changing a scheduled session notifies its chair, attendees and endpoints' focal staff."""
    cancelled = data.state is SessionState.CANCELLED
    moved = any(getattr(data, f) is not None for f in BOOKING_FIELDS)
    if not cancelled and not (moved and s.state is SessionState.SCHEDULED):
        return
    attendees = await db.scalars(
        select(Attendee.account_id).where(
            Attendee.session_id == s.id, Attendee.account_id.is_not(None)
        )
    )
    eps = [s.central_endpoint_id, *(e.endpoint_id for e in s.endpoints)]
    who = {s.chair_id, *(a for a in attendees if a is not None), *await notify.focal_staff(db, eps)}
    start = s.starts_at.astimezone(cfg.tz)
    end = s.ends_at.astimezone(cfg.tz)
    if cancelled:
        text = f"Phiên “{s.title}” ({start:%H:%M} ngày {start:%d/%m/%Y}) đã bị hủy."
    else:
        text = (
            f"Phiên “{s.title}” đã thay đổi: {start:%H:%M}–{end:%H:%M} ngày {start:%d/%m/%Y}. "
            "Xem lại lịch và điểm cầu tham gia."
        )
    await notify.send(db, who, text, "session_changed", now, s.id)
