"""An account's sessions as an iCalendar feed (RFC 5545)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions.access import Principal
from sessions.models import Account, Attendee, Endpoint, ReceptionSession, SessionEndpoint
from sessions.models import SessionState as St

CRLF = "\r\n"
# RFC 5545 3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break.
MAX_OCTETS = 75
PRODID = "-//tiepdan//Tiep cong dan truc tuyen//VI"
# How far back the feed reaches; calendar clients keep what they already have.
HISTORY = timedelta(days=90)

_STATUS = {St.SCHEDULED: "CONFIRMED", St.LIVE: "CONFIRMED", St.ENDED: "CONFIRMED"}
_STATUS |= {St.ARCHIVED: "CONFIRMED", St.CANCELLED: "CANCELLED", St.DRAFT: "TENTATIVE"}


@dataclass(frozen=True, slots=True)
class Event:
    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str = ""
    location: str = ""
    status: str = "CONFIRMED"
    sequence: int = 0
    last_modified: datetime | None = None


def escape_text(value: str) -> str:
    """TEXT values (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    out: list[str] = []
    chunk, size, limit = "", 0, MAX_OCTETS
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            out.append(chunk)
            # A continuation line starts with one space, which counts toward its 75.
            chunk, size, limit = "", 0, MAX_OCTETS - 1
        chunk += ch
        size += n
    out.append(chunk)
    return (CRLF + " ").join(out)


def utc(moment: datetime) -> str:
    """DATE-TIME in UTC form (RFC 5545 3.3.5, FORM #2)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _event_lines(e: Event, stamp: datetime) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{e.uid}",
        f"DTSTAMP:{utc(stamp)}",
        f"DTSTART:{utc(e.starts_at)}",
        f"DTEND:{utc(e.ends_at)}",
        f"SUMMARY:{escape_text(e.summary)}",
        f"STATUS:{e.status}",
        f"SEQUENCE:{e.sequence}",
    ]
    if e.description:
        lines.append(f"DESCRIPTION:{escape_text(e.description)}")
    if e.location:
        lines.append(f"LOCATION:{escape_text(e.location)}")
    if e.last_modified is not None:
        lines.append(f"LAST-MODIFIED:{utc(e.last_modified)}")
    lines.append("END:VEVENT")
    return lines


def render(events: Iterable[Event], stamp: datetime, name: str) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for e in events:
        lines.extend(_event_lines(e, stamp))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines).encode("utf-8")


def mine(p: Principal) -> ColumnElement[bool]:
    """Sessions the account chairs, attends, scheduled, or its endpoint takes part in."""
    conds: list[ColumnElement[bool]] = [
        ReceptionSession.chair_id == p.account_id,
        ReceptionSession.created_by_id == p.account_id,
        ReceptionSession.id.in_(
            select(Attendee.session_id).where(Attendee.account_id == p.account_id)
        ),
    ]
    if p.endpoint_id is not None:
        conds.append(ReceptionSession.central_endpoint_id == p.endpoint_id)
        conds.append(
            ReceptionSession.id.in_(
                select(SessionEndpoint.session_id).where(
                    SessionEndpoint.endpoint_id == p.endpoint_id
                )
            )
        )
    return or_(*conds)


async def _names(
    db: AsyncSession, model: type[Account] | type[Endpoint], ids: set[int]
) -> dict[int, str]:
    if not ids:
        return {}
    if model is Account:
        rows = await db.execute(select(Account.id, Account.full_name).where(Account.id.in_(ids)))
    else:
        rows = await db.execute(select(Endpoint.id, Endpoint.name).where(Endpoint.id.in_(ids)))
    return {i: n for i, n in rows}


async def feed(db: AsyncSession, p: Principal, now: datetime, host: str) -> list[Event]:
    rows = list(
        await db.scalars(
            select(ReceptionSession)
            .options(selectinload(ReceptionSession.endpoints))
            .where(
                mine(p),
                ReceptionSession.state != St.DRAFT,
                ReceptionSession.starts_at >= now - HISTORY,
            )
            .order_by(ReceptionSession.starts_at)
        )
    )
    chairs = await _names(db, Account, {s.chair_id for s in rows})
    ep_ids = {s.central_endpoint_id for s in rows} | {
        e.endpoint_id for s in rows for e in s.endpoints
    }
    eps = await _names(db, Endpoint, ep_ids)
    return [_event(s, chairs, eps, host) for s in rows]


def _event(s: ReceptionSession, chairs: dict[int, str], eps: dict[int, str], host: str) -> Event:
    parts = [f"Chủ trì: {chairs.get(s.chair_id, '')}"]
    others = [eps.get(e.endpoint_id, "") for e in s.endpoints]
    if others:
        parts.append("Điểm cầu tham gia: " + ", ".join(others))
    if s.notes:
        parts.append(s.notes)
    return Event(
        uid=f"session-{s.id}@{host}",
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        summary=s.title,
        description="\n".join(parts),
        location=eps.get(s.central_endpoint_id, ""),
        status=_STATUS[s.state],
        # Grows with every change, so clients replace their copy (RFC 5545 3.8.7.4).
        sequence=int(s.updated_at.timestamp()) - int(s.created_at.timestamp()),
        last_modified=s.updated_at,
    )
