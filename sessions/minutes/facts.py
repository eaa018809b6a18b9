"""What the system knows of a session, as the minutes state it: pre-filled, never typed.

`gather` reads the session, its endpoints, chair, attendees, agenda, events (when it opened
and closed, when each case was heard: `sessions.recordings.heard_ranges`) and recordings
with their SHA-256, into plain JSON. A draft shows them as they are now; finalizing freezes
them into the version, under its hash. Citizens are named by id only: who may read their
names is decided when the minutes are shown (`sessions.identity`), never stored here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.live import list_events
from sessions.models import (
    Account,
    AgendaItem,
    CaseFile,
    Endpoint,
    ReceptionSession,
    RecordingAttachment,
    RecordingRecord,
    SessionEvent,
    Unit,
)
from sessions.recordings import STORED_STATES, heard_ranges

# How a province's name opens ("Tỉnh An Bình"): the place of a document is the name after it.
_PLACE_PREFIXES = ("Thành phố ", "Tỉnh ", "thành phố ", "tỉnh ")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def place_name(root_name: str) -> str:
    """ "Tỉnh An Bình" → "An Bình": the place a document is written at (Decree 30/2020)."""
    for prefix in _PLACE_PREFIXES:
        if root_name.startswith(prefix):
            return root_name[len(prefix) :]
    return root_name


async def _issuer(db: AsyncSession, s: ReceptionSession) -> dict[str, str]:
    """The issuing body: the unit that runs the central endpoint (the reception board), under
    its parent unit's name; the place: the province."""
    central = await db.get(Endpoint, s.central_endpoint_id)
    unit = await db.get(Unit, central.unit_id if central else s.unit_id)
    parent = await db.get(Unit, unit.parent_id) if unit and unit.parent_id else None
    root = await db.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    return {
        "name": unit.name if unit else "",
        "parent": parent.name if parent else "",
        "place": place_name(root.name) if root else "",
    }


def _event_at(events: list[SessionEvent], kind: str, last: bool = False) -> str | None:
    found = [e.at for e in events if e.kind == kind]
    if not found:
        return None
    return _iso(found[-1] if last else found[0])


async def _endpoints(db: AsyncSession, s: ReceptionSession) -> list[dict[str, Any]]:
    ids = [s.central_endpoint_id, *(e.endpoint_id for e in s.endpoints)]
    rows = {e.id: e for e in await db.scalars(select(Endpoint).where(Endpoint.id.in_(ids)))}
    return [
        {"id": i, "name": rows[i].name, "location": rows[i].location, "central": i == ids[0]}
        for i in ids
        if i in rows
    ]


async def _accounts(db: AsyncSession, ids: list[int]) -> dict[int, Account]:
    if not ids:
        return {}
    return {a.id: a for a in await db.scalars(select(Account).where(Account.id.in_(ids)))}


async def _attendees(db: AsyncSession, s: ReceptionSession) -> list[dict[str, str]]:
    accounts = await _accounts(db, [a.account_id for a in s.attendees if a.account_id])
    out = []
    for a in s.attendees:
        acc = accounts.get(a.account_id) if a.account_id else None
        out.append(
            {
                "name": acc.full_name if acc else a.guest_name,
                "title": acc.title if acc else "",
                "organization": a.guest_organization,
                "capacity": a.capacity,
            }
        )
    return out


def _recording(r: RecordingRecord, endpoints: dict[int, str]) -> dict[str, Any]:
    return {
        "id": r.id,
        "endpoint": endpoints.get(r.endpoint_id or 0, ""),
        "kind": r.track_kind,
        "source": r.track_source,
        "started_at": _iso(r.started_at),
        "duration_ms": r.duration_ms,
        "sha256": r.sha256,
    }


async def _items(
    db: AsyncSession,
    s: ReceptionSession,
    items: list[AgendaItem],
    events: list[SessionEvent],
    endpoints: dict[int, str],
) -> list[dict[str, Any]]:
    ranges = heard_ranges(events)
    case_ids = [i.case_id for i in items]
    cases = {c.id: c for c in await db.scalars(select(CaseFile).where(CaseFile.id.in_(case_ids)))}
    attachments = list(
        await db.scalars(
            select(RecordingAttachment)
            .where(RecordingAttachment.session_id == s.id)
            .order_by(RecordingAttachment.heard_from, RecordingAttachment.id)
        )
    )
    out = []
    for item in items:
        case = cases[item.case_id]
        out.append(
            {
                "id": item.id,
                "position": item.position,
                "case_id": case.id,
                "case_code": case.code,
                "case_title": case.title,
                "case_kind": case.kind.value,
                "endpoint": endpoints.get(item.endpoint_id, ""),
                "citizen_ids": [c.citizen_id for c in item.citizens],
                "heard": [
                    {"start": _iso(h.start), "end": _iso(h.end)}
                    for h in ranges
                    if h.agenda_item_id == item.id
                ],
                "segments": [
                    {
                        "recording_id": a.recording_id,
                        "offset_ms": a.offset_ms,
                        "length_ms": a.length_ms,
                        "sha256": a.sha256,
                    }
                    for a in attachments
                    if a.agenda_item_id == item.id
                ],
            }
        )
    return out


async def gather(db: AsyncSession, s: ReceptionSession, item: AgendaItem | None) -> dict[str, Any]:
    """The facts of the session (`item` None) or of one agenda item, as JSON. `s` is loaded
    with its endpoints, attendees and agenda (`sessions.receptions.get_session`)."""
    events = await list_events(db, s.id)
    endpoints = await _endpoints(db, s)
    names = {e["id"]: e["name"] for e in endpoints}
    extra = await db.scalars(select(Endpoint).where(Endpoint.id.not_in(list(names))))
    names |= {e.id: e.name for e in extra}  # an item's endpoint that left the plan
    chair = (await _accounts(db, [s.chair_id])).get(s.chair_id)
    records = list(
        await db.scalars(
            select(RecordingRecord)
            .where(RecordingRecord.session_id == s.id, RecordingRecord.state.in_(STORED_STATES))
            .order_by(RecordingRecord.started_at, RecordingRecord.id)
        )
    )
    items = await _items(db, s, [item] if item is not None else list(s.agenda), events, names)
    heard_files = {seg["recording_id"] for i in items for seg in i["segments"]}
    if item is not None:  # an item's minutes list the files its case was heard in
        records = [r for r in records if r.id in heard_files]
    return {
        "session": {
            "id": s.id,
            "title": s.title,
            "kind": s.kind.value,
            "starts_at": _iso(s.starts_at),
            "ends_at": _iso(s.ends_at),
            "opened_at": _event_at(events, "open"),
            "closed_at": _event_at(events, "close", last=True),
        },
        "issuer": await _issuer(db, s),
        "chair": {
            "id": s.chair_id,
            "name": chair.full_name if chair else "",
            "title": chair.title if chair else "",
        },
        "endpoints": endpoints,
        "attendees": await _attendees(db, s),
        "items": items,
        "recordings": [_recording(r, names) for r in records],
    }
