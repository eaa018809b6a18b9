"""Composite exports: their records, and what an export of a session (or of one case's time
range in it) is made from — the stored track files, the floor changes and the range heard.

`web/exports.py` runs the jobs; this module keeps what the database must know of them.
Functions take a session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.errors import Conflict, Invalid, NotFound
from sessions.live import list_events
from sessions.models import (
    AgendaItem,
    ExportRecord,
    ExportState,
    RecordingAttachment,
    RecordingRecord,
    SessionEvent,
    utcnow,
)
from sessions.recordings import STORED_STATES

UNFINISHED = (ExportState.QUEUED, ExportState.RUNNING)
INTERRUPTED = "Máy chủ dừng khi đang xuất video; hãy yêu cầu xuất lại."


@dataclass(frozen=True, slots=True)
class Floor:
    """From `at` the floor is `endpoint_id`'s (None: back to the chair)."""

    at: datetime
    endpoint_id: int | None


async def create_export(
    db: AsyncSession,
    session_id: int,
    case_id: int | None,
    account_id: int | None,
    span: tuple[datetime, datetime] | None,
) -> ExportRecord:
    row = ExportRecord(
        session_id=session_id,
        case_id=case_id,
        requested_by_id=account_id,
        state=ExportState.QUEUED,
        progress=0.0,
        range_from=None if span is None else span[0],
        range_to=None if span is None else span[1],
    )
    db.add(row)
    await db.flush()
    return row


async def get_export(db: AsyncSession, export_id: int) -> ExportRecord:
    row = await db.get(ExportRecord, export_id)
    if row is None:
        raise NotFound(f"Không tìm thấy yêu cầu xuất video #{export_id}.")
    return row


async def list_exports(
    db: AsyncSession, session_id: int | None = None, case_id: int | None = None
) -> list[ExportRecord]:
    query = select(ExportRecord).order_by(ExportRecord.id.desc()).limit(20)
    if session_id is not None:
        query = query.where(ExportRecord.session_id == session_id)
    if case_id is not None:
        query = query.where(ExportRecord.case_id == case_id)
    return list(await db.scalars(query))


async def mark_interrupted(db: AsyncSession) -> list[int]:
    """At start: a job queued or running when the server stopped has no worker any more; it
    is marked failed with the reason (not re-queued: the requester decides whether to
    repeat an hour of rendering). Returns the ids marked."""
    ids = list(await db.scalars(select(ExportRecord.id).where(ExportRecord.state.in_(UNFINISHED))))
    if ids:
        await db.execute(
            update(ExportRecord)
            .where(ExportRecord.id.in_(ids))
            .values(state=ExportState.FAILED, error=INTERRUPTED, finished_at=utcnow())
        )
    return ids


async def stored_tracks(db: AsyncSession, session_id: int) -> list[RecordingRecord]:
    """The session's track files the store holds; Conflict if there are none."""
    rows = list(
        await db.scalars(
            select(RecordingRecord)
            .where(
                RecordingRecord.session_id == session_id,
                RecordingRecord.state.in_(STORED_STATES),
            )
            .order_by(RecordingRecord.started_at, RecordingRecord.id)
        )
    )
    if not rows:
        raise Conflict(
            "Phiên chưa có bản ghi hình nào được lưu: không có gì để xuất.",
            {"session_id": "phiên chưa có bản ghi hình"},
        )
    return rows


async def check_on_agenda(db: AsyncSession, session_id: int, case_id: int) -> None:
    """Invalid if the case is not on the session's agenda."""
    on_agenda = await db.scalar(
        select(AgendaItem.id).where(
            AgendaItem.session_id == session_id, AgendaItem.case_id == case_id
        )
    )
    if on_agenda is None:
        raise Invalid(
            f"Hồ sơ #{case_id} không có trong chương trình của phiên #{session_id}.",
            {"case_id": "hồ sơ không có trong chương trình của phiên"},
        )


async def case_range(db: AsyncSession, session_id: int, case_id: int) -> tuple[datetime, datetime]:
    """The time range in which the case was heard in the session's recordings (from its
    attachments); Conflict if it was never recorded."""
    rows = list(
        await db.execute(
            select(RecordingAttachment.heard_from, RecordingAttachment.heard_to).where(
                RecordingAttachment.session_id == session_id,
                RecordingAttachment.case_id == case_id,
            )
        )
    )
    if not rows:
        raise Conflict(
            "Hồ sơ chưa được nghe trong bản ghi hình nào của phiên: không có gì để xuất.",
            {"case_id": "hồ sơ chưa có đoạn ghi hình"},
        )
    return min(a for a, _ in rows), max(b for _, b in rows)


def floor_changes(events: list[SessionEvent]) -> list[Floor]:
    """Who had the floor when: each `floor` event's participant, mapped to the endpoint it
    joined from (its `join` events); no participant gives the floor back to the chair."""
    endpoint_of: dict[str, int] = {}
    out: list[Floor] = []
    for e in events:
        if e.kind == "join" and e.participant_id and e.endpoint_id is not None:
            endpoint_of[e.participant_id] = e.endpoint_id
        elif e.kind == "floor":
            out.append(Floor(e.at, endpoint_of.get(e.participant_id)))
    return out


async def session_floor(db: AsyncSession, session_id: int) -> list[Floor]:
    return floor_changes(await list_events(db, session_id))
