"""`tiepdan seed-demo --sample-archive`: an ended session of the demo province with a short
generated recording, so that a new user can open the archive and replay at once.

The session ran yesterday at the central point with the Tân Phú and Hòa Bình endpoints; two
cases were heard, each with the floor at its commune's endpoint. Each endpoint's camera is a
flat colour (central blue, Tân Phú red, Hòa Bình green) and each microphone a tone of its own:
a test tells who has the main picture by its colour. The tracks go through the recorder's
own writer and the store worker, so their files, records, manifest and case attachments are
those of a live recording; the session's events are those the room would have stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.contracts import TrackInfo
from recording import RecordedFile
from recording.recorder import TrackRecorder
from recording.synthetic import tone_frames, video_frames
from sessions import live
from sessions.db import create_engine, session_factory, transaction
from sessions.models import (
    Account,
    AgendaItem,
    CaseFile,
    Endpoint,
    ReceptionSession,
    SessionEndpoint,
    SessionKind,
    SessionState,
)
from sessions.text import search_key
from web.config import Config
from web.live import participant_id, room_id
from web.recording_checks import open_checked_storage
from web.recording_store import RunStore

TITLE = "Phiên mẫu đã kết thúc, có bản ghi hình để xem lại"
RECORDED_S = 120.0
SECOND_CASE_AT_S = 60.0
FIRST_CASE_AT_S = 5.0


@dataclass(frozen=True, slots=True)
class Seat:
    username: str
    endpoint: str
    rgb: tuple[int, int, int]
    tone_hz: int


SEATS = (
    Seat("chair", "Điểm cầu trung tâm – Ban Tiếp công dân tỉnh", (25, 80, 200), 330),
    Seat("focal1", "Điểm cầu xã Tân Phú", (200, 30, 30), 440),
    Seat("focal2", "Điểm cầu phường Hòa Bình", (30, 160, 60), 550),
)
CASES = (("HS-MAU-001", "Điểm cầu xã Tân Phú"), ("HS-MAU-002", "Điểm cầu phường Hòa Bình"))


@dataclass(frozen=True, slots=True)
class SampleResult:
    created: bool
    message: str
    session_id: int | None = None
    failed: bool = False  # nothing to add it to


async def _lookup(
    db: AsyncSession,
) -> tuple[dict[str, Account], dict[str, Endpoint], dict[str, CaseFile]]:
    accounts = {a.username: a for a in await db.scalars(select(Account))}
    endpoints = {e.name: e for e in await db.scalars(select(Endpoint))}
    cases = {c.code: c for c in await db.scalars(select(CaseFile))}
    return accounts, endpoints, cases


async def _add_session(
    db: AsyncSession,
    origin: datetime,
    accounts: dict[str, Account],
    eps: dict[str, Endpoint],
    cases: dict[str, CaseFile],
) -> ReceptionSession:
    central = eps[SEATS[0].endpoint]
    chair = accounts["chair"]
    s = ReceptionSession(
        title=TITLE,
        title_key=search_key(TITLE),
        kind=SessionKind.PERIODIC,
        state=SessionState.ENDED,
        unit_id=central.unit_id,
        chair_id=chair.id,
        central_endpoint_id=central.id,
        starts_at=origin - timedelta(minutes=5),
        ends_at=origin + timedelta(hours=1),
        created_by_id=accounts["officer"].id,
        endpoints=[SessionEndpoint(endpoint_id=eps[seat.endpoint].id) for seat in SEATS[1:]],
        attendees=[],
        agenda=[
            AgendaItem(position=i, case_id=cases[code].id, endpoint_id=eps[ep].id)
            for i, (code, ep) in enumerate(CASES, 1)
        ],
    )
    db.add(s)
    await db.flush()
    return s


async def _add_events(
    db: AsyncSession,
    s: ReceptionSession,
    origin: datetime,
    accounts: dict[str, Account],
    eps: dict[str, Endpoint],
) -> None:
    """What the room stores: opening, joins, recording on, the two agenda moves each with the
    floor to its case's endpoint, recording off, closing."""
    chair = accounts["chair"]
    pid = {seat.endpoint: participant_id(accounts[seat.username].id) for seat in SEATS}

    def at(seconds: float) -> datetime:
        return origin + timedelta(seconds=seconds)

    await live.add_event(db, s.id, at(-60), "open", account_id=chair.id)
    for i, seat in enumerate(SEATS):
        who = accounts[seat.username]
        await live.add_event(
            db, s.id, at(-30 + i), "join", pid[seat.endpoint], who.id, eps[seat.endpoint].id
        )
    await live.add_event(
        db, s.id, at(0), "recording", pid[SEATS[0].endpoint], chair.id, None, {"active": True}
    )
    items = sorted(s.agenda, key=lambda item: item.position)
    for item, moment in zip(items, (FIRST_CASE_AT_S, SECOND_CASE_AT_S), strict=True):
        data: dict[str, Any] = {
            "action": "next",
            "item_id": item.id,
            "moved": True,
            "case_id": item.case_id,
            "position": item.position,
        }
        await live.add_event(
            db, s.id, at(moment), "agenda", pid[SEATS[0].endpoint], chair.id, None, data
        )
        holder = next(p for name, p in pid.items() if eps[name].id == item.endpoint_id)
        await live.add_event(
            db, s.id, at(moment), "floor", holder, None, None, {"by": pid[SEATS[0].endpoint]}
        )
    await live.add_event(
        db,
        s.id,
        at(RECORDED_S),
        "recording",
        pid[SEATS[0].endpoint],
        chair.id,
        None,
        {"active": False},
    )
    await live.add_event(db, s.id, at(RECORDED_S + 5), "close", account_id=chair.id)


def _record_tracks(
    config: Config,
    sid: int,
    origin: datetime,
    run_key: str,
    accounts: dict[str, Account],
    eps: dict[str, Endpoint],
) -> list[RecordedFile]:
    files: list[RecordedFile] = []
    t0 = origin.timestamp()
    for seat in SEATS:
        who = participant_id(accounts[seat.username].id)
        endpoint_id = eps[seat.endpoint].id
        for kind, codec, rate in (("video", "VP8", 90000), ("audio", "opus", 48000)):
            track = TrackInfo(
                track_id=f"sample-{endpoint_id}-{kind}",
                room_id=room_id(sid),
                participant_id=who,
                endpoint_id=endpoint_id,
                kind=kind,  # type: ignore[arg-type]
                source="camera" if kind == "video" else "microphone",
                codec=codec,
                clock_rate=rate,
            )
            frames = (
                video_frames(RECORDED_S, seat.rgb, t0)
                if kind == "video"
                else tone_frames(RECORDED_S, seat.tone_hz, t0)
            )
            recorder = TrackRecorder(track, config.recording, key_prefix=run_key)
            recorded = recorder.write_prepared(frames)
            if recorded is not None:
                files.append(recorded)
    return files


async def seed_sample_archive(config: Config, now: datetime | None = None) -> SampleResult:
    """Add the sample archive to a seeded demo province, unless it is there already."""
    engine = create_engine(config.database)
    try:
        storage = await open_checked_storage(config.recording)
        factory = session_factory(engine)
        origin = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(days=1)
        async with transaction(factory) as db:
            if await db.scalar(select(ReceptionSession.id).where(ReceptionSession.title == TITLE)):
                return SampleResult(False, "đã có phiên mẫu để xem lại; không tạo thêm")
            accounts, eps, cases = await _lookup(db)
            missing = [s.username for s in SEATS if s.username not in accounts]
            missing += [code for code, _ in CASES if code not in cases]
            if missing or "officer" not in accounts:
                return SampleResult(
                    False,
                    "chưa có tỉnh mẫu (chạy «tiepdan seed-demo» trên cơ sở dữ liệu trống)",
                    failed=True,
                )
            s = await _add_session(db, origin, accounts, eps, cases)
            await _add_events(db, s, origin, accounts, eps)
            sid = s.id
        run_key = f"sessions/{sid}/{origin:%Y%m%dT%H%M%S}000000Z"
        files = _record_tracks(config, sid, origin, run_key, accounts, eps)
        await RunStore(storage, factory).store_run(sid, run_key, files)
        return SampleResult(True, f"đã tạo phiên mẫu có bản ghi hình (phiên #{sid})", sid)
    finally:
        await engine.dispose()
