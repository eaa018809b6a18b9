"""Recording records, manifests and their attachment to case files.

The recording service (recording/service/) records and stores the files; this module keeps
what the database must know of them: one `RecordingRecord` per track file, one
`RecordingManifest` per recording run (its hash too), and a `RecordingAttachment` per case
heard in a file, with the time range computed from the session's `agenda` events. Functions take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import identity
from sessions.access import Principal
from sessions.errors import NotFound
from sessions.live import list_events
from sessions.models import (
    AgendaItem,
    CaseFile,
    RecordingAttachment,
    RecordingManifest,
    RecordingRecord,
    RecordingState,
    SessionEvent,
)

# A record in one of these states names a file the store holds and a manifest lists.
STORED_STATES = frozenset({RecordingState.STORED, RecordingState.REPAIRED})


@dataclass(frozen=True, slots=True)
class TrackFile:
    """One track file as the recorder and the store describe it."""

    storage_key: str
    run_key: str
    track_id: str
    participant_id: str
    endpoint_id: int | None
    kind: str  # audio / video
    source: str  # microphone / camera / screen
    codec: str
    size: int
    sha256: str
    duration_ms: int
    started_at: datetime  # wall clock of the first frame
    state: RecordingState
    dropped: int = 0
    failure_reason: str | None = None


async def save_file(db: AsyncSession, session_id: int, f: TrackFile) -> RecordingRecord:
    """Insert the record of a file, or move an unfinished one (recording, failed) on.

    A record already stored is evidence: it is returned unchanged."""
    row = await db.scalar(
        select(RecordingRecord).where(RecordingRecord.storage_key == f.storage_key)
    )
    if row is not None and row.state in STORED_STATES:
        return row
    if row is None:
        row = RecordingRecord(session_id=session_id, storage_key=f.storage_key)
        db.add(row)
    row.run_key = f.run_key
    row.track_id = f.track_id
    row.participant_id = f.participant_id
    row.endpoint_id = f.endpoint_id
    row.track_kind = f.kind
    row.track_source = f.source
    row.codec = f.codec
    row.size_bytes = f.size
    row.sha256 = f.sha256
    row.duration_ms = f.duration_ms
    row.started_at = f.started_at
    row.state = f.state
    row.dropped_frames = f.dropped
    row.failure_reason = f.failure_reason
    await db.flush()
    return row


async def unlisted(db: AsyncSession, run_key: str) -> list[RecordingRecord]:
    """Stored files of a run that no manifest lists yet, in the manifest's order."""
    rows = await db.scalars(
        select(RecordingRecord)
        .where(
            RecordingRecord.run_key == run_key,
            RecordingRecord.manifest_id.is_(None),
            RecordingRecord.state.in_(STORED_STATES),
        )
        .order_by(RecordingRecord.started_at, RecordingRecord.id)
    )
    return list(rows)


async def unlisted_runs(db: AsyncSession) -> list[tuple[int, str]]:
    """(session id, run key) of every run with stored files no manifest lists."""
    rows = await db.execute(
        select(RecordingRecord.session_id, RecordingRecord.run_key)
        .where(
            RecordingRecord.manifest_id.is_(None),
            RecordingRecord.state.in_(STORED_STATES),
            RecordingRecord.run_key.is_not(None),
        )
        .distinct()
    )
    return [(sid, key) for sid, key in rows if key is not None]


async def add_manifest(
    db: AsyncSession,
    session_id: int,
    run_key: str,
    storage_key: str,
    manifest_hash: str,
    sha256: str,
    size: int,
    records: Sequence[RecordingRecord],
) -> RecordingManifest:
    row = RecordingManifest(
        session_id=session_id,
        run_key=run_key,
        storage_key=storage_key,
        manifest_hash=manifest_hash,
        sha256=sha256,
        size_bytes=size,
        file_count=len(records),
    )
    db.add(row)
    await db.flush()
    for record in records:
        record.manifest_id = row.id
    await db.flush()
    return row


async def list_records(db: AsyncSession, session_id: int) -> list[RecordingRecord]:
    rows = await db.scalars(
        select(RecordingRecord)
        .where(RecordingRecord.session_id == session_id)
        .order_by(RecordingRecord.started_at, RecordingRecord.id)
    )
    return list(rows)


async def count_by_state(db: AsyncSession) -> dict[RecordingState, int]:
    """How many track files are in each state, over every session (every state listed)."""
    rows = await db.execute(
        select(RecordingRecord.state, func.count()).group_by(RecordingRecord.state)
    )
    counts = dict.fromkeys(RecordingState, 0)
    counts.update({state: n for state, n in rows})
    return counts


async def list_manifests(db: AsyncSession, session_id: int) -> list[RecordingManifest]:
    rows = await db.scalars(
        select(RecordingManifest)
        .where(RecordingManifest.session_id == session_id)
        .order_by(RecordingManifest.id)
    )
    return list(rows)


async def get_record(db: AsyncSession, recording_id: int) -> RecordingRecord:
    row = await db.get(RecordingRecord, recording_id)
    if row is None:
        raise NotFound(f"Không tìm thấy bản ghi hình #{recording_id}.")
    return row


# Which case was heard when -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heard:
    """A stretch of time in which one agenda item's case was heard; `end` None: still on."""

    agenda_item_id: int
    case_id: int
    position: int
    start: datetime
    end: datetime | None


def heard_ranges(events: Iterable[SessionEvent]) -> list[Heard]:
    """From the session's events: an agenda item is heard from its `agenda` move until the
    next move, a recording stop or the session's close. A recording started again with no
    move in between goes on with the item that was being heard."""
    out: list[Heard] = []
    current: Heard | None = None
    paused: Heard | None = None
    for e in events:
        data = e.data or {}
        if e.kind == "agenda" and data.get("moved") and isinstance(data.get("item_id"), int):
            if current is not None:
                out.append(replace(current, end=e.at))
            current = Heard(
                data["item_id"], int(data["case_id"]), int(data.get("position", 0)), e.at, None
            )
            paused = None
        elif e.kind == "recording" and data.get("active") is False and current is not None:
            out.append(replace(current, end=e.at))
            current, paused = None, current
        elif e.kind == "recording" and data.get("active") is True and paused is not None:
            current, paused = replace(paused, start=e.at, end=None), None
        elif e.kind == "close":
            if current is not None:
                out.append(replace(current, end=e.at))
            current = paused = None
    if current is not None:
        out.append(current)
    return out


def overlap(
    heard: Heard, file_start: datetime, duration_ms: int
) -> tuple[datetime, datetime] | None:
    """The part of a file (from `file_start`, `duration_ms` long) in which `heard` falls."""
    file_end = file_start + timedelta(milliseconds=duration_ms)
    start = max(heard.start, file_start)
    end = file_end if heard.end is None else min(heard.end, file_end)
    return (start, end) if end > start else None


async def attach_to_cases(
    db: AsyncSession, session_id: int, records: Sequence[RecordingRecord]
) -> list[RecordingAttachment]:
    """Attach each stored file to every case heard while it was recorded (idempotent)."""
    ranges = heard_ranges(await list_events(db, session_id))
    added: list[RecordingAttachment] = []
    for record in records:
        if record.state not in STORED_STATES or record.sha256 is None:
            continue
        for heard in ranges:
            span = overlap(heard, record.started_at, record.duration_ms or 0)
            if span is not None and not await _attached(db, record.id, heard, span[0]):
                added.append(_attachment(session_id, record, heard, span))
    db.add_all(added)
    await db.flush()
    return added


def _attachment(
    session_id: int,
    record: RecordingRecord,
    heard: Heard,
    span: tuple[datetime, datetime],
) -> RecordingAttachment:
    start, end = span
    assert record.sha256 is not None
    return RecordingAttachment(
        case_id=heard.case_id,
        session_id=session_id,
        recording_id=record.id,
        agenda_item_id=heard.agenda_item_id,
        position=heard.position,
        heard_from=start,
        heard_to=end,
        offset_ms=round((start - record.started_at).total_seconds() * 1000),
        length_ms=round((end - start).total_seconds() * 1000),
        sha256=record.sha256,
    )


async def _attached(db: AsyncSession, recording_id: int, heard: Heard, start: datetime) -> bool:
    found = await db.scalar(
        select(RecordingAttachment.id).where(
            RecordingAttachment.recording_id == recording_id,
            RecordingAttachment.agenda_item_id == heard.agenda_item_id,
            RecordingAttachment.heard_from == start,
        )
    )
    return found is not None


async def case_attachments(
    db: AsyncSession, case_id: int
) -> list[tuple[RecordingAttachment, RecordingRecord]]:
    rows = await db.execute(
        select(RecordingAttachment, RecordingRecord)
        .join(RecordingRecord, RecordingRecord.id == RecordingAttachment.recording_id)
        .where(RecordingAttachment.case_id == case_id)
        .order_by(RecordingAttachment.heard_from, RecordingRecord.id)
    )
    return [(a, r) for a, r in rows]


async def agenda_cases(db: AsyncSession, session_id: int) -> list[tuple[CaseFile, Heard | None]]:
    """Every case on the session's agenda, each with the ranges it was heard in (or None)."""
    items = list(
        await db.execute(
            select(AgendaItem, CaseFile)
            .join(CaseFile, CaseFile.id == AgendaItem.case_id)
            .where(AgendaItem.session_id == session_id)
            .order_by(AgendaItem.position)
        )
    )
    ranges = heard_ranges(await list_events(db, session_id))
    out: list[tuple[CaseFile, Heard | None]] = []
    for item, case in items:
        mine: list[Heard | None] = [h for h in ranges if h.agenda_item_id == item.id]
        out.extend((case, h) for h in mine or [None])
    return out


# Who may replay -------------------------------------------------------------------------


async def may_replay(db: AsyncSession, p: Principal, session_id: int) -> tuple[bool, list[int]]:
    """Whether `p` may replay or download the session's recordings, and the cases whose
    segments show a protected citizen (for the audit): `sessions.identity` decides."""
    r = await identity.replay_restriction(db, p, session_id)
    return r.allowed, list(r.cases)
