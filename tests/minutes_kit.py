"""An ended reception to write minutes of: the demo session, ended, with two cases heard
(Nguyễn Văn An's complaint at Tân Phú, then Vũ Đức Cường's denunciation at the centre),
an attendee and a guest, the opening, agenda moves and close as events, and one stored
camera file attached to the first case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.models import (
    Account,
    AgendaCitizen,
    AgendaItem,
    Attendee,
    CaseFile,
    Citizen,
    Endpoint,
    ReceptionSession,
    RecordingAttachment,
    RecordingRecord,
    RecordingState,
    SessionEvent,
    SessionState,
)

COMPLAINANT = "Nguyễn Văn An"
DENOUNCER = "Vũ Đức Cường"
CAMERA_SHA = "c" * 64


@dataclass(frozen=True)
class Heard:
    session: int
    complaint_item: int
    denunciation_item: int
    complaint: int
    denunciation: int


async def ended_session(db: AsyncSession, session_id: int = 1) -> Heard:
    """Call inside a transaction; the demo seed must be there."""
    s = await db.get(ReceptionSession, session_id)
    assert s is not None
    s.state = SessionState.ENDED
    eps = {e.name: e.id for e in await db.scalars(select(Endpoint))}
    cases = {c.code: c for c in await db.scalars(select(CaseFile))}
    people = {c.full_name: c.id for c in await db.scalars(select(Citizen))}
    officer = await db.scalar(select(Account).where(Account.username == "officer"))
    assert officer is not None
    complaint, denunciation = cases["HS-MAU-001"], cases["HS-MAU-003"]
    first = AgendaItem(
        session_id=s.id,
        position=1,
        case_id=complaint.id,
        endpoint_id=eps["Điểm cầu xã Tân Phú"],
        citizens=[AgendaCitizen(citizen_id=people[COMPLAINANT])],
    )
    second = AgendaItem(
        session_id=s.id,
        position=2,
        case_id=denunciation.id,
        endpoint_id=s.central_endpoint_id,
        citizens=[AgendaCitizen(citizen_id=people[DENOUNCER])],
    )
    db.add_all(
        [
            first,
            second,
            Attendee(session_id=s.id, account_id=officer.id, capacity="Ghi biên bản"),
            Attendee(
                session_id=s.id,
                guest_name="Lê Văn Tám",
                guest_organization="Sở Nông nghiệp và Môi trường",
                capacity="Đại diện cơ quan chuyên môn",
            ),
        ]
    )
    await db.flush()
    at = s.starts_at
    for minutes, kind, data in (
        (0, "open", {}),
        (5, "agenda", {"moved": True, "item_id": first.id, "case_id": complaint.id, "position": 1}),
        (
            30,
            "agenda",
            {"moved": True, "item_id": second.id, "case_id": denunciation.id, "position": 2},
        ),
        (60, "close", {}),
    ):
        db.add(
            SessionEvent(session_id=s.id, at=at + timedelta(minutes=minutes), kind=kind, data=data)
        )
    camera = RecordingRecord(
        session_id=s.id,
        endpoint_id=eps["Điểm cầu xã Tân Phú"],
        track_kind="video",
        track_source="camera",
        storage_key=f"sessions/{s.id}/run/camera.webm",
        size_bytes=1000,
        sha256=CAMERA_SHA,
        duration_ms=3_600_000,
        codec="VP8",
        state=RecordingState.STORED,
        started_at=at,
    )
    db.add(camera)
    await db.flush()
    db.add(
        RecordingAttachment(
            case_id=complaint.id,
            session_id=s.id,
            recording_id=camera.id,
            agenda_item_id=first.id,
            position=1,
            heard_from=at + timedelta(minutes=5),
            heard_to=at + timedelta(minutes=30),
            offset_ms=300_000,
            length_ms=1_500_000,
            sha256=CAMERA_SHA,
        )
    )
    await db.flush()
    return Heard(s.id, first.id, second.id, complaint.id, denunciation.id)


async def final_minutes_elsewhere(db: AsyncSession) -> int:
    """A second, ended session like the demo one, whose complaint has final minutes: the
    first minutes row (id 1), for tests that walk every page with the ids of the seed."""
    from sessions import accounts
    from sessions.minutes import store

    base = await db.get(ReceptionSession, 1)
    assert base is not None
    s = ReceptionSession(
        title="Tiếp công dân đã diễn ra (mẫu biên bản)",
        title_key="tiep cong dan da dien ra (mau bien ban)",
        kind=base.kind,
        state=SessionState.SCHEDULED,
        unit_id=base.unit_id,
        chair_id=base.chair_id,
        central_endpoint_id=base.central_endpoint_id,
        starts_at=base.starts_at - timedelta(days=7),
        ends_at=base.ends_at - timedelta(days=7),
        created_by_id=base.created_by_id,
        endpoints=[],
        attendees=[],
        agenda=[],
    )
    db.add(s)
    await db.flush()
    heard = await ended_session(db, s.id)
    ends, session_id = s.ends_at, s.id
    db.expire(s)  # its agenda was added beside it: read it again
    who = {}
    for username in ("officer", "chair"):
        account = await accounts.by_username(db, username)
        assert account is not None
        who[username] = await accounts.principal_for(db, account)
    m = await store.start_version(
        db,
        who["officer"],
        session_id,
        heard.complaint_item,
        store.MinutesInput(presented="Công dân trình bày.", conclusions="Giao xã trả lời."),
    )
    await store.finalize(db, who["chair"], m.id, ends)
    return m.id
