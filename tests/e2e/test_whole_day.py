"""A whole reception day in real headless Chromium, through the pages only (the test reads
results through the API, it never acts through it).

The day before: the reception officer registers two citizens and two cases (one a
denunciation, with the document the citizen handed in and its printed receipt), then
schedules the session for the next day with the central point, two endpoints, an outside
guest and both cases on the agenda (an empty form first: every error at once, beside its
field). The clock moves to the day. The chair opens the session from its page; the chair and
both endpoints' focal staff enter the room; recording runs while "Vụ việc tiếp theo" moves
through both cases, the floor following each case's endpoint; the chair closes the session
from its page, which then lists the recordings. ffprobe (not our code) reads every track
file; the case page exports the first case's segment as an MP4 of that length. The
denouncer's name is never on an uncleared page. Screenshots of each step go to
test-artifacts/day-*.png.

This walk replaces the separate intake, scheduling and recording browser tests: one served
app and one browser for the day instead of three."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from sessions.db import DatabaseConfig, create_engine, session_factory, transaction
from sessions.models import ReceptionSession
from tests.e2e.live import LiveServer, chromium, live_config
from tests.e2e.test_room import ARTIFACTS, HOOK, Seat
from tests.recording.recmedia import ffprobe
from tests.support import ShiftedClock
from web.config import Config

pytestmark = pytest.mark.browser

VN = ZoneInfo("Asia/Ho_Chi_Minh")
WAIT_MS = 30_000  # three pages with fake media and the bridge on two shared cores
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PETITIONER = "Trần Thị Hồng Nhung"
DENOUNCER = "Lê Quang Vĩnh"
COMPLAINT = "Khiếu nại việc thu hồi đất làm đường liên thôn"
DENUNCIATION = "Tố cáo cán bộ địa chính phường thu tiền trái phép"
HEARD_S = 6.0  # recorded for each case


@dataclass
class Day:
    base_url: str
    config: Config
    clock: ShiftedClock
    starts: datetime  # the session's start, local time


def _next_five_minutes(moment: datetime) -> datetime:
    moment = moment.replace(second=0, microsecond=0)
    return moment + timedelta(minutes=5 - moment.minute % 5)


async def _clear_the_way(url: str) -> None:
    """The demo's own session moves a week on, so that its chair is free whatever the hour
    the test runs at."""
    engine = create_engine(DatabaseConfig(url=url))
    try:
        async with transaction(session_factory(engine)) as db:
            for s in await db.scalars(select(ReceptionSession)):
                s.starts_at += timedelta(days=7)
                s.ends_at += timedelta(days=7)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    # The session starts about half an hour from now, real time; the app starts a day before
    # that. When the clock "moves to the day" the app is brought to real time, so that the
    # events it stamps (agenda moves) agree with the media the bridge stamps.
    starts = _next_five_minutes(datetime.now(UTC).astimezone(VN) + timedelta(minutes=30))
    clock = ShiftedClock(offset=timedelta(days=-1))
    config = live_config(tmp_path_factory.mktemp("day"))
    server = LiveServer(config, clock)
    try:
        url = server.start()
        asyncio.run_coroutine_threadsafe(_clear_the_way(config.database.url), server.loop).result(
            timeout=60
        )
        yield Day(url, config, clock, starts)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(media=True) as b:
        yield b


class DaySeat(Seat):
    def __init__(self, browser: Browser, base_url: str, username: str) -> None:
        super().__init__(browser, base_url, username)
        self.context.set_default_timeout(WAIT_MS)

    def until(self, js: str, what: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> None:
        super().until(js, what, arg, timeout_ms)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"day-{name}.png"), full_page=True)

    def never_names_the_denouncer(self) -> None:
        assert DENOUNCER not in self.page.content(), f"{self.username} sees the denouncer"


@pytest.fixture
def seats(browser: Browser, day: Day) -> Iterator[dict[str, DaySeat]]:
    made = {n: DaySeat(browser, day.base_url, n) for n in ("officer", "chair", "focal1", "focal2")}
    expect.set_options(timeout=WAIT_MS)
    try:
        yield made
    finally:
        for seat in made.values():
            seat.context.close()


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy; past the deadline fail saying what
    was not met and what it last returned."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)  # a polling interval, not a stand-in for the condition
    raise AssertionError(f"not met within {timeout_s} s: {what}; last: {last!r}"[:3000])


# ---------------------------------------------------------------------------- the day before


def register_citizen(page: Page, name: str, id_number: str, address: str) -> None:
    page.goto("/citizens")
    page.get_by_role("link", name="Đăng ký công dân").click()
    page.get_by_label("Họ và tên").fill(name)
    page.get_by_label("Số CCCD/CMND").fill(id_number)
    page.get_by_label("Địa chỉ").fill(address)
    page.get_by_label("Điện thoại").fill("0987000111")
    page.get_by_role("button", name="Đăng ký công dân").click()
    expect(page.get_by_text("Đã lưu thông tin công dân.")).to_be_visible()


def open_case(page: Page, kind: str, title: str, unit: str, citizen_query: str) -> int:
    page.goto("/cases/new")
    page.get_by_label("Loại đơn").select_option(label=kind)
    page.get_by_label("Lĩnh vực").select_option(label="Đất đai")
    page.get_by_label("Tiêu đề").fill(title)
    page.get_by_label("Tóm tắt nội dung").fill("Công dân trình bày tại buổi tiếp nhận đơn.")
    units = page.get_by_label("Đơn vị xử lý")  # options indented by depth: "— Xã Tân Phú"
    value = units.locator("option", has_text=unit).first.get_attribute("value")
    units.select_option(value=value)
    page.get_by_label(re.compile("Tìm công dân")).fill(citizen_query)
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.locator("#party-results").get_by_role("button", name="Thêm").click()
    page.get_by_role("button", name="Tạo hồ sơ").click()
    expect(page.get_by_text("Đã lưu hồ sơ.")).to_be_visible()
    found = re.search(r"/cases/([0-9]+)", page.url)
    assert found, page.url
    return int(found.group(1))


def the_day_before(officer: DaySeat, day: Day, tmp_path: Path) -> tuple[int, int, int]:
    """The officer's intake and scheduling. Returns the session's and the cases' ids."""
    page = officer.page
    register_citizen(page, PETITIONER, "036190004455", "Thôn Trung, xã Tân Phú")
    register_citizen(page, DENOUNCER, "036185006677", "Tổ 3, phường Hòa Bình")
    officer.shot("01-citizens")

    complaint = open_case(page, "Khiếu nại", COMPLAINT, "Xã Tân Phú", "tran thi hong nhung")
    expect(page.get_by_role("cell", name=PETITIONER)).to_be_visible()
    denunciation = open_case(page, "Tố cáo", DENUNCIATION, "Phường Hòa Bình", "le quang vinh")
    # Withheld on arrival even from the officer who recorded the case; revealed on asking.
    expect(page.get_by_role("cell", name=DENOUNCER)).to_have_count(0)
    expect(page.locator("table .badge.withheld").first).to_be_visible()
    officer.shot("02-denunciation-withheld")
    page.get_by_label(re.compile("Lý do xem danh tính")).fill("Đối chiếu giấy tờ khi nhận đơn")
    page.get_by_role("button", name="Xem danh tính").click()
    expect(page.get_by_role("cell", name=DENOUNCER)).to_be_visible()

    scan = tmp_path / "Đơn tố cáo.pdf"
    scan.write_bytes(PDF)
    page.locator("input[type=file][name=file]").set_input_files(str(scan))
    page.get_by_label(re.compile("Ghi chú")).fill("Đơn tố cáo viết tay, 2 trang")
    page.get_by_role("button", name="Nhận tài liệu").click()
    expect(page.get_by_text("Đã nhận tài liệu.")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("Đơn tố cáo.pdf"))).to_be_visible()
    officer.shot("03-denunciation-document")
    with page.expect_popup() as popup:
        page.get_by_role("link", name="In giấy biên nhận", exact=True).click()
    receipt = popup.value
    expect(receipt.get_by_role("heading", name="GIẤY BIÊN NHẬN")).to_be_visible()
    expect(receipt.get_by_role("cell", name=re.compile("Đơn tố cáo.pdf"))).to_be_visible()
    receipt.screenshot(path=str(ARTIFACTS / "day-04-receipt.png"), full_page=True)
    receipt.close()

    # Scheduling, from the calendar.
    nav = page.get_by_role("navigation", name="Điều hướng chính")
    nav.get_by_role("link", name="Lịch").click()
    page.get_by_role("link", name="Lên lịch phiên").click()
    page.get_by_role("button", name="Lên lịch phiên").click()  # empty: every error at once
    expect(page.locator("#err-title")).to_have_text("bắt buộc")
    expect(page.locator("[id='err-chair_id']")).to_have_text("bắt buộc")
    officer.shot("05-schedule-errors")
    starts = day.starts
    ends = min(starts + timedelta(hours=2), starts.replace(hour=23, minute=55))
    page.get_by_label("Tên phiên").fill("Tiếp công dân định kỳ – đất đai Tân Phú, Hòa Bình")
    page.get_by_label("Người chủ trì").select_option(label="Nguyễn Văn Minh – Chủ tịch UBND tỉnh")
    page.get_by_label("Ngày").fill(starts.date().isoformat())
    page.get_by_label("Giờ bắt đầu").fill(f"{starts:%H:%M}")
    page.get_by_label("Giờ kết thúc").fill(f"{ends:%H:%M}")
    expect(page.get_by_label("Điểm cầu trung tâm")).to_have_value(re.compile("[0-9]+"))
    page.get_by_label("Điểm cầu xã Tân Phú").check()
    page.get_by_label("Điểm cầu phường Hòa Bình").check()
    page.get_by_label("Họ tên khách mời, dòng 1").fill("Phạm Minh Tuấn")
    page.get_by_label("Cơ quan, đơn vị, dòng 1").fill("Thanh tra tỉnh")
    page.get_by_label("Tư cách tham dự, dòng 1").fill("Mời dự")

    search = page.get_by_placeholder(re.compile("Mã hồ sơ"))
    search.fill("tran thi hong nhung")  # the petitioner, without diacritics
    page.get_by_role("button", name="Tìm", exact=True).click()
    results = page.locator("table.results")
    expect(results).to_contain_text(COMPLAINT)
    results.get_by_role("button", name="Thêm vào chương trình").click()
    page.get_by_placeholder(re.compile("Mã hồ sơ")).fill("thu tien trai phep")
    page.get_by_role("button", name="Tìm", exact=True).click()
    expect(results).to_contain_text(DENUNCIATION)
    officer.never_names_the_denouncer()  # a search result does not name a denouncer
    results.get_by_role("button", name="Thêm vào chương trình").click()
    # Each case at the endpoint of the commune handling it.
    expect(page.locator("select[name='agenda[0].endpoint_id'] option:checked")).to_have_text(
        "Điểm cầu xã Tân Phú"
    )
    expect(page.locator("select[name='agenda[1].endpoint_id'] option:checked")).to_have_text(
        "Điểm cầu phường Hòa Bình"
    )
    expect(page.get_by_label(PETITIONER)).to_be_checked()
    officer.shot("06-schedule-filled")
    page.get_by_role("button", name="Đưa mục 1 xuống").click()  # reorder, and back
    expect(page.locator("table.agenda tr.agenda-row").first).to_contain_text(DENUNCIATION)
    page.get_by_role("button", name="Đưa mục 1 xuống").click()
    expect(page.locator("table.agenda tr.agenda-row").first).to_contain_text(COMPLAINT)
    page.get_by_role("button", name="Lên lịch phiên").click()
    expect(page.get_by_role("status")).to_have_text("Đã lưu lịch phiên.")
    found = re.search(r"/sessions/([0-9]+)", page.url)
    assert found, page.url
    sid = int(found.group(1))
    rows = page.locator("h2:has-text('Chương trình tiếp') + table tbody tr")
    expect(rows.nth(0)).to_contain_text(COMPLAINT)
    expect(rows.nth(1)).to_contain_text(DENUNCIATION)
    expect(page.get_by_role("cell", name="Phạm Minh Tuấn")).to_be_visible()
    expect(page.get_by_text("Điểm cầu xã Tân Phú; Điểm cầu phường Hòa Bình")).to_be_visible()
    expect(page.get_by_text(f"{starts:%H:%M %d/%m/%Y}", exact=False).first).to_be_visible()
    # The day before, the session cannot be opened yet; the page says from when.
    expect(page.get_by_role("button", name="Mở phiên")).to_have_count(0)
    expect(page.get_by_text(re.compile("Phiên được mở từ"))).to_be_visible()
    officer.never_names_the_denouncer()
    officer.shot("07-session-scheduled")

    page.goto(f"/calendar?view=week&date={starts.date().isoformat()}")
    cell = page.locator(f"td[data-date='{starts.date().isoformat()}']")
    expect(cell.get_by_role("link", name=re.compile("đất đai Tân Phú"))).to_be_visible()
    officer.shot("08-calendar")
    return sid, complaint, denunciation


# ---------------------------------------------------------------------------- the day


def enter_room(seat: DaySeat, sid: int) -> None:
    page = seat.page
    page.goto(f"/sessions/{sid}")
    page.get_by_role("link", name="Vào phòng tiếp công dân trực tuyến").click()
    join = page.get_by_role("button", name="Tham gia phiên")
    expect(join).to_be_enabled()
    join.click()
    seat.until("(room) => room.joined()", "joined")
    seat.pid = page.evaluate(f"{HOOK}.participantId()")


def hear_for(chair: DaySeat, seconds: float) -> None:
    """Let `seconds` of media be recorded, with the chair's main picture still decoding."""
    start = chair.state()["framesDecoded"].get("main", 0)
    chair.until(
        "(room, [n, t]) => (room.framesDecoded().main ?? 0) > n && Date.now() >= t",
        f"{seconds} s more of media",
        [start, time.time() * 1000 + seconds * 1000],
        timeout_ms=int(seconds * 1000) + WAIT_MS,
    )


def test_a_whole_reception_day_through_the_pages(
    seats: dict[str, DaySeat], day: Day, tmp_path: Path
) -> None:
    officer, chair, focal1, focal2 = (seats[n] for n in ("officer", "chair", "focal1", "focal2"))
    officer.sign_in()
    sid, complaint, denunciation = the_day_before(officer, day, tmp_path)

    # The clock moves to the day: about half an hour before the start.
    day.clock.offset = timedelta(0)
    for seat in (chair, focal1, focal2):
        seat.sign_in()
    page = chair.page
    page.goto(f"/sessions/{sid}")
    chair.shot("09-chair-before-opening")
    page.get_by_role("button", name="Mở phiên").click()
    expect(page.get_by_role("link", name="Vào phòng tiếp công dân trực tuyến")).to_be_visible()
    assert chair.page.request.get(f"/api/v1/sessions/{sid}").json()["state"] == "live"
    chair.shot("10-session-open")
    for seat in (chair, focal1, focal2):
        enter_room(seat, sid)
    ids = [focal1.pid, focal2.pid]
    chair.until(
        "(room, ids) => ids.every(id => room.participants().some("
        "p => p.participant_id === id && p.state === 'live'))",
        "both endpoints live",
        ids,
    )
    agenda = page.locator("#agenda-list li")
    expect(agenda).to_have_count(2)
    chair.shot("11-room-joined")

    page.get_by_role("button", name="Bắt đầu ghi hình").click()
    for seat in (chair, focal1, focal2):
        expect(seat.page.locator("#recording-indicator")).to_be_visible()
    recording_from = time.time()
    # "Vụ việc tiếp theo": the complaint, heard at Tân Phú.
    page.get_by_role("button", name="Vụ việc tiếp theo").click()
    expect(page.locator("#agenda-list li.current")).to_contain_text(COMPLAINT)
    for seat in (chair, focal1, focal2):
        seat.until("(room, pid) => room.floor() === pid", "floor to Tân Phú", focal1.pid)
    chair.shows_video("main", focal1.pid)
    hear_for(chair, HEARD_S)
    chair.shot("12-first-case")
    # The denunciation, heard at Hòa Bình.
    page.get_by_role("button", name="Vụ việc tiếp theo").click()
    expect(page.locator("#agenda-list li.current")).to_contain_text(DENUNCIATION)
    for seat in (chair, focal1, focal2):
        seat.until("(room, pid) => room.floor() === pid", "floor to Hòa Bình", focal2.pid)
    chair.shows_video("main", focal2.pid)
    focal1.shows_video("main", focal2.pid)
    hear_for(chair, HEARD_S)
    chair.shot("13-second-case")
    focal1.shot("14-focal1-second-case")
    for seat in (chair, focal1, focal2):
        seat.never_names_the_denouncer()
    page.get_by_role("button", name="Dừng ghi hình").click()
    for seat in (chair, focal1, focal2):
        expect(seat.page.locator("#recording-indicator")).to_be_hidden()
    recorded_s = time.time() - recording_from
    for seat in (focal1, focal2):  # the endpoints leave: their browsers stop decoding
        seat.page.get_by_role("button", name="Rời phiên").click()
        expect(seat.page.get_by_role("heading", name="Bạn đã rời phiên")).to_be_visible()

    # The chair closes the session from its page (the confirmation is asked first).
    page.goto(f"/sessions/{sid}")
    page.get_by_role("button", name="Kết thúc phiên").click()
    expect(page.locator("[id='err-confirm']")).to_be_visible()
    page.get_by_label(re.compile("Tôi xác nhận kết thúc phiên")).check()
    page.get_by_role("button", name="Kết thúc phiên").click()
    expect(page.get_by_text("Phiên đã kết thúc.", exact=False)).to_be_visible()

    # The page lists the recordings: a camera and a microphone per endpoint, all stored.
    def stored() -> list[dict[str, Any]]:
        body = chair.page.request.get(f"/api/v1/sessions/{sid}/recordings").json()
        items: list[dict[str, Any]] = body["items"]
        ok = len(items) == 6 and all(i["state"] == "stored" for i in items)
        return items if ok and body["manifests"] else []

    items = eventually(stored, "six track files stored with a manifest")
    page.reload()
    tracks = page.locator("table.recordings tbody tr")
    expect(tracks).to_have_count(6)
    for name in ("Điểm cầu xã Tân Phú", "Điểm cầu phường Hòa Bình"):
        expect(page.locator("table.recordings")).to_contain_text(name)
    for item in items:
        expect(page.locator("table.recordings")).to_contain_text(item["sha256"])
    expect(tracks.filter(has_text="Đã lưu vào kho")).to_have_count(6)
    chair.never_names_the_denouncer()
    chair.shot("15-session-ended")

    root = Path(day.config.storage_url.removeprefix("file://"))
    durations = {
        i["storage_key"]: float(ffprobe(root / i["storage_key"])["format"]["duration"])
        for i in items
    }
    assert max(durations.values()) - min(durations.values()) < 2.0, durations
    for key, seconds in durations.items():
        assert abs(seconds - recorded_s) < 2.5, (key, seconds, recorded_s)
    sources = {(i["endpoint_id"], i["track_source"]) for i in items}
    assert len({e for e, _ in sources}) == 3 and len(sources) == 6, sources

    # The officer (signed in again the next morning) exports the complaint's segment.
    officer.sign_in()
    page = officer.page
    page.goto(f"/cases/{complaint}")
    expect(page.locator("table.recordings tbody tr")).to_have_count(6)
    page.get_by_role("button", name=f"Xuất video tổng hợp (phiên #{sid})").click()
    job_row = page.locator("#export-rows tr").first
    expect(job_row).to_have_attribute("data-state", "done", timeout=90_000)
    export_id = int(job_row.get_attribute("data-export") or 0)
    job = page.request.get(f"/api/v1/exports/{export_id}").json()
    assert job["state"] == "done" and job["progress"] == 1.0, job
    officer.shot("16-case-exported")
    mp4 = ffprobe(root / job["storage_key"])
    streams = {s["codec_type"]: s for s in mp4["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    heard = (
        datetime.fromisoformat(job["range_to"]) - datetime.fromisoformat(job["range_from"])
    ).total_seconds()
    assert HEARD_S - 1 < heard < recorded_s, (heard, recorded_s)
    for kind in ("video", "audio"):
        assert abs(float(streams[kind]["duration"]) - heard) < 0.5, (kind, streams[kind], heard)
    page.goto(f"/cases/{denunciation}")
    expect(page.locator("table.recordings tbody tr")).to_have_count(6)
    officer.shot("17-denunciation-case")
    for seat in seats.values():
        assert seat.errors == [], f"{seat.username}: page errors {seat.errors}"
