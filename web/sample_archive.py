"""Ended sessions with generated recordings: the sample archive of
`tiepdan seed-demo --sample-archive`, and the long archives of `tiepdan bench replay`.

An `ArchivePlan` says who sat where (one seat per endpoint, the central point first), which
cases were heard from when, and how long the recording ran; `build_archive` writes the
session, the events the room would have stored (opening, joins, recording on, each agenda
move with the floor to its case's endpoint, recording off, closing) and the tracks. Each
endpoint's camera is a flat colour and each microphone a tone of its own, so a test tells
who has the main picture by its colour. The tracks go through the recorder's own writer and
the store worker, so their files, records, manifest and case attachments are those of a
live recording.

The sample: yesterday, central point (blue), Tân Phú (red) and Hòa Bình (green); two cases,
each with the floor at its commune's endpoint; two minutes recorded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge import EncodedFrame, TrackInfo
from recording import RecordedFile, Storage
from recording.recorder import TrackRecorder
from recording.service import RunStore
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

TITLE = "Phiên mẫu đã kết thúc, có bản ghi hình để xem lại"
RECORDED_S = 120.0
FIRST_CASE_AT_S = 5.0
SECOND_CASE_AT_S = 60.0
CENTRAL_BLUE = (25, 80, 200)
PALETTE = (CENTRAL_BLUE, (200, 30, 30), (30, 160, 60), (200, 160, 20), (130, 40, 170))
TONES = (330, 440, 550, 660, 770)


@dataclass(frozen=True, slots=True)
class Seat:
    """One endpoint in the recorded session: who was there and how their media looks."""

    endpoint_id: int
    account_id: int | None
    rgb: tuple[int, int, int]
    tone_hz: int

    @property
    def participant(self) -> str:
        if self.account_id is not None:
            return participant_id(self.account_id)
        return f"endpoint-{self.endpoint_id}"


@dataclass(frozen=True, slots=True)
class Heard:
    case_id: int
    endpoint_id: int
    at_s: float  # from the first recorded frame


@dataclass(frozen=True, slots=True)
class VideoShape:
    fps: int = 15
    width: int = 320
    height: int = 240
    bit_rate: int = 150_000
    grain: int = 0  # noise, so that the file is as large as a camera's would be
    loop_s: float = 4.0


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    title: str
    unit_id: int
    chair_id: int
    created_by_id: int
    origin: datetime  # the first recorded frame
    recorded_s: float
    seats: Sequence[Seat]  # the central point first
    heard: Sequence[Heard]
    video: VideoShape = field(default_factory=VideoShape)


@dataclass(frozen=True, slots=True)
class SampleResult:
    created: bool
    message: str
    session_id: int | None = None
    failed: bool = False  # nothing to add it to


async def _add_session(db: AsyncSession, plan: ArchivePlan) -> ReceptionSession:
    s = ReceptionSession(
        title=plan.title,
        title_key=search_key(plan.title),
        kind=SessionKind.PERIODIC,
        state=SessionState.ENDED,
        unit_id=plan.unit_id,
        chair_id=plan.chair_id,
        central_endpoint_id=plan.seats[0].endpoint_id,
        starts_at=plan.origin - timedelta(minutes=5),
        ends_at=plan.origin + timedelta(seconds=plan.recorded_s) + timedelta(minutes=30),
        created_by_id=plan.created_by_id,
        endpoints=[SessionEndpoint(endpoint_id=seat.endpoint_id) for seat in plan.seats[1:]],
        attendees=[],
        agenda=[
            AgendaItem(position=i, case_id=h.case_id, endpoint_id=h.endpoint_id)
            for i, h in enumerate(plan.heard, 1)
        ],
    )
    db.add(s)
    await db.flush()
    return s


async def _add_events(db: AsyncSession, s: ReceptionSession, plan: ArchivePlan) -> None:
    chair = plan.seats[0]

    def at(seconds: float) -> datetime:
        return plan.origin + timedelta(seconds=seconds)

    async def event(seconds: float, kind: str, who: Seat | None, **data: object) -> None:
        await live.add_event(
            db,
            s.id,
            at(seconds),
            kind,
            who.participant if who is not None else "",
            who.account_id if who is not None else plan.chair_id,
            who.endpoint_id if who is not None and kind == "join" else None,
            dict(data),
        )

    await event(-60, "open", None)
    for i, seat in enumerate(plan.seats):
        await event(-30 + i, "join", seat)
    await event(0, "recording", chair, active=True)
    by_endpoint = {seat.endpoint_id: seat for seat in plan.seats}
    items = sorted(s.agenda, key=lambda item: item.position)
    for item, heard in zip(items, plan.heard, strict=True):
        await event(
            heard.at_s,
            "agenda",
            chair,
            action="next",
            item_id=item.id,
            moved=True,
            case_id=item.case_id,
            position=item.position,
        )
        holder = by_endpoint[heard.endpoint_id]
        await live.add_event(
            db, s.id, at(heard.at_s), "floor", holder.participant, data={"by": chair.participant}
        )
    await event(plan.recorded_s, "recording", chair, active=False)
    await event(plan.recorded_s + 5, "close", None)


def _track(sid: int, seat: Seat, kind: str) -> TrackInfo:
    video = kind == "video"
    return TrackInfo(
        track_id=f"archive-{seat.endpoint_id}-{kind}",
        room_id=room_id(sid),
        participant_id=seat.participant,
        endpoint_id=seat.endpoint_id,
        kind="video" if video else "audio",
        source="camera" if video else "microphone",
        codec="VP8" if video else "opus",
        clock_rate=90000 if video else 48000,
    )


def _record_tracks(config: Config, sid: int, plan: ArchivePlan, run_key: str) -> list[RecordedFile]:
    files: list[RecordedFile] = []
    t0 = plan.origin.timestamp()
    shape = plan.video
    for seat in plan.seats:
        for kind in ("video", "audio"):
            frames: Iterator[EncodedFrame]
            if kind == "video":
                frames = video_frames(
                    plan.recorded_s,
                    seat.rgb,
                    t0,
                    fps=shape.fps,
                    width=shape.width,
                    height=shape.height,
                    loop_s=shape.loop_s,
                    bit_rate=shape.bit_rate,
                    grain=shape.grain,
                )
            else:
                frames = tone_frames(plan.recorded_s, seat.tone_hz, t0)
            recorder = TrackRecorder(_track(sid, seat, kind), config.recording, key_prefix=run_key)
            recorded = recorder.write_prepared(frames)
            if recorded is not None:
                files.append(recorded)
    return files


async def build_archive(
    config: Config, factory: async_sessionmaker[AsyncSession], storage: Storage, plan: ArchivePlan
) -> int:
    """Write the planned session, its events and its recording; returns the session's id."""
    async with transaction(factory) as db:
        s = await _add_session(db, plan)
        await _add_events(db, s, plan)
        sid = s.id
    run_key = f"sessions/{sid}/{plan.origin:%Y%m%dT%H%M%S}000000Z"
    files = _record_tracks(config, sid, plan, run_key)
    await RunStore(storage, factory).store_run(sid, run_key, files)
    return sid


async def _sample_plan(db: AsyncSession, origin: datetime) -> ArchivePlan | None:
    accounts = {a.username: a for a in await db.scalars(select(Account))}
    eps = {e.name: e for e in await db.scalars(select(Endpoint))}
    cases = {c.code: c for c in await db.scalars(select(CaseFile))}
    places = (
        ("chair", "Điểm cầu trung tâm – Ban Tiếp công dân tỉnh"),
        ("focal1", "Điểm cầu xã Tân Phú"),
        ("focal2", "Điểm cầu phường Hòa Bình"),
    )
    if any(u not in accounts or e not in eps for u, e in places) or "officer" not in accounts:
        return None
    if "HS-MAU-001" not in cases or "HS-MAU-002" not in cases:
        return None
    seats = [
        Seat(eps[e].id, accounts[u].id, PALETTE[i], TONES[i]) for i, (u, e) in enumerate(places)
    ]
    return ArchivePlan(
        title=TITLE,
        unit_id=eps[places[0][1]].unit_id,
        chair_id=accounts["chair"].id,
        created_by_id=accounts["officer"].id,
        origin=origin,
        recorded_s=RECORDED_S,
        seats=seats,
        heard=[
            Heard(cases["HS-MAU-001"].id, seats[1].endpoint_id, FIRST_CASE_AT_S),
            Heard(cases["HS-MAU-002"].id, seats[2].endpoint_id, SECOND_CASE_AT_S),
        ],
    )


SAMPLE_WORDS = (
    (
        "Công dân trình bày việc thu hồi đất nông nghiệp của gia đình để làm đường liên thôn,"
        " đề nghị xem xét lại mức bồi thường.",
        "Giao Ủy ban nhân dân xã Tân Phú rà soát hồ sơ thu hồi đất, trả lời công dân.",
    ),
    (
        "Công dân phản ánh cơ sở chế biến xả nước thải gây ô nhiễm nguồn nước sinh hoạt.",
        "Giao Sở Nông nghiệp và Môi trường kiểm tra, xử lý cơ sở vi phạm, báo cáo kết quả.",
    ),
)


async def _final_minutes(
    factory: async_sessionmaker[AsyncSession], sid: int, plan: ArchivePlan
) -> None:
    """The officer writes the minutes of each case heard and of the session; the chair
    finalizes them (each locked and hashed, as on the pages)."""
    from sessions.accounts import principal_for
    from sessions.minutes import store as minutes
    from sessions.minutes.store import DirectionInput, MinutesInput

    async with transaction(factory) as db:
        officer = await db.get(Account, plan.created_by_id)
        chair = await db.get(Account, plan.chair_id)
        s = await db.get(ReceptionSession, sid)
        assert officer is not None and chair is not None and s is not None
        writer, signer = await principal_for(db, officer), await principal_for(db, chair)
        due = (plan.origin + timedelta(days=30)).date()
        items = sorted(
            (await db.scalars(select(AgendaItem).where(AgendaItem.session_id == sid))).all(),
            key=lambda item: item.position,
        )
        for item, (presented, direction) in zip(items, SAMPLE_WORDS, strict=False):
            case = await db.get(CaseFile, item.case_id)
            assert case is not None
            data = MinutesInput(
                presented=presented,
                documents_received="Đơn của công dân (01 bản).",
                conclusions=direction,
                directions=(DirectionInput(case.handling_unit_id, direction, due),),
            )
            m = await minutes.start_version(db, writer, sid, item.id, data)
            await minutes.finalize(db, signer, m.id, plan.origin + timedelta(hours=2))
        whole = MinutesInput(body="Phiên tiếp công dân trực tuyến kết thúc đúng chương trình.")
        m = await minutes.start_version(db, writer, sid, None, whole)
        await minutes.finalize(db, signer, m.id, plan.origin + timedelta(hours=2))


async def seed_sample_archive(config: Config, now: datetime | None = None) -> SampleResult:
    """Add the sample archive to a seeded demo province, unless it is there already."""
    engine = create_engine(config.database)
    try:
        storage = await open_checked_storage(config.recording)
        factory = session_factory(engine)
        origin = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(days=1)
        async with factory() as db:
            if await db.scalar(select(ReceptionSession.id).where(ReceptionSession.title == TITLE)):
                return SampleResult(False, "đã có phiên mẫu để xem lại; không tạo thêm")
            plan = await _sample_plan(db, origin)
        if plan is None:
            return SampleResult(
                False,
                "chưa có tỉnh mẫu (chạy «tiepdan seed-demo» trên cơ sở dữ liệu trống)",
                failed=True,
            )
        sid = await build_archive(config, factory, storage, plan)
        await _final_minutes(factory, sid, plan)
        return SampleResult(
            True, f"đã tạo phiên mẫu có bản ghi hình và biên bản đã hoàn tất (phiên #{sid})", sid
        )
    finally:
        await engine.dispose()
