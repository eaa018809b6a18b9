"""A session on one time line, for replay: each track placed by the wall clock of its first
frame, who had the floor when, and the agenda's chapters (which case was heard when).

Time 0 is the earliest of the first track's first frame and the first recorded event; every
offset is in seconds from there. Whether a viewer may replay, and which chapters are
restricted, is decided by `sessions.identity.replay_restriction` and nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import identity
from sessions.access import Principal
from sessions.live import list_events
from sessions.models import (
    CaseFile,
    Endpoint,
    ReceptionSession,
    RecordingRecord,
    SessionEvent,
)
from sessions.recordings import STORED_STATES, heard_ranges, list_records


@dataclass(frozen=True, slots=True)
class Track:
    record: RecordingRecord
    endpoint_name: str
    offset_s: float
    duration_s: float
    playable: bool  # stored, and the viewer may replay the session


@dataclass(frozen=True, slots=True)
class FloorChange:
    t_s: float
    participant_id: str
    endpoint_id: int | None
    endpoint_name: str


@dataclass(frozen=True, slots=True)
class Chapter:
    agenda_item_id: int
    case_id: int
    case_code: str
    title: str | None  # None: withheld (restricted for this viewer)
    position: int
    start_s: float
    end_s: float
    restricted: bool


@dataclass(frozen=True, slots=True)
class Timeline:
    session_id: int
    started_at: datetime
    ended_at: datetime
    may_replay: bool
    tracks: list[Track]
    floor: list[FloorChange]
    chapters: list[Chapter]

    @property
    def duration_s(self) -> float:
        return seconds(self.ended_at - self.started_at)


def seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 3)


def _bounds(
    s: ReceptionSession, records: Sequence[RecordingRecord], events: Sequence[SessionEvent]
) -> tuple[datetime, datetime]:
    starts = [r.started_at for r in records] + [e.at for e in events]
    ends = [r.started_at + timedelta(milliseconds=r.duration_ms or 0) for r in records]
    ends += [e.at for e in events]
    if not starts:
        return s.starts_at, s.ends_at
    return min(starts), max(ends)


async def _endpoint_names(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db.execute(select(Endpoint.id, Endpoint.name).where(Endpoint.id.in_(wanted)))
    return {i: n for i, n in rows}


def _floor(events: Sequence[SessionEvent], origin: datetime) -> list[tuple[float, str, int | None]]:
    """(t, participant, endpoint) of each floor change; a participant's endpoint is the one
    it last joined from."""
    where: dict[str, int | None] = {}
    out: list[tuple[float, str, int | None]] = []
    for e in events:
        if e.kind == "join" and e.participant_id:
            where[e.participant_id] = e.endpoint_id
        elif e.kind == "floor":
            pid = e.participant_id or ""
            out.append((seconds(e.at - origin), pid, where.get(pid) if pid else None))
    return out


async def build(db: AsyncSession, p: Principal, s: ReceptionSession) -> Timeline:
    """The session's time line as `p` may see it (the caller has checked `p` sees `s`)."""
    records = await list_records(db, s.id)
    events = await list_events(db, s.id)
    origin, end = _bounds(s, records, events)
    allowed = (await identity.replay_restriction(db, p, s.id)).allowed
    floor = _floor(events, origin)
    names = await _endpoint_names(db, [r.endpoint_id for r in records] + [ep for _, _, ep in floor])
    tracks = [
        Track(
            r,
            names.get(r.endpoint_id, "") if r.endpoint_id is not None else "",
            seconds(r.started_at - origin),
            round((r.duration_ms or 0) / 1000, 3),
            allowed and r.state in STORED_STATES,
        )
        for r in records
    ]
    heard = heard_ranges(events)
    cases = {
        c.id: c
        for c in await db.scalars(
            select(CaseFile).where(CaseFile.id.in_({h.case_id for h in heard}))
        )
    }
    chapters: list[Chapter] = []
    decided: dict[int, bool] = {}
    for h in heard:
        if h.case_id not in decided:
            r = await identity.replay_restriction(db, p, s.id, h.case_id)
            decided[h.case_id] = not r.allowed
        case = cases.get(h.case_id)
        restricted = decided[h.case_id]
        chapters.append(
            Chapter(
                h.agenda_item_id,
                h.case_id,
                case.code if case is not None else "",
                None if restricted or case is None else case.title,
                h.position,
                seconds(h.start - origin),
                seconds((h.end or end) - origin),
                restricted,
            )
        )
    return Timeline(
        s.id,
        origin,
        end,
        allowed,
        tracks,
        [FloorChange(t, pid, ep, names.get(ep, "") if ep else "") for t, pid, ep in floor],
        chapters,
    )
