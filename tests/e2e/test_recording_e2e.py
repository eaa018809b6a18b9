"""Recording end to end with real Chromium: the chair and two focal staff in one live session
(fake cameras and microphones), the chair records ~20 s and gives the floor to the second
endpoint midway. Then ffprobe (not our code) reads every stored track file and their lengths
agree; the case page lists the recording with its time range and hash; the composite export,
started from the case page's button (which posts to the API), gives an MP4 with video and
audio of the case's length. Screenshots go to test-artifacts/recording-*.png."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.live import LiveServer, chromium, live_config
from tests.e2e.test_room import ARTIFACTS, HOOK, WAIT_MS, Seat
from web.config import Config

pytestmark = pytest.mark.browser

HALF_S = 9.0  # recorded before and after the floor change
CASE_CODE = "HS-MAU-001"  # a complaint: not protected


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Config]]:
    config = live_config(tmp_path_factory.mktemp("recording-e2e"))
    live = LiveServer(config, due=True)
    try:
        yield live.start(), config
    finally:
        live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(media=True) as b:
        yield b


@pytest.fixture
def seats(browser: Browser, server: tuple[str, Config]) -> Iterator[dict[str, Seat]]:
    names = ("officer", "chair", "focal1", "focal2")
    made = {name: Seat(browser, server[0], name) for name in names}
    expect.set_options(timeout=WAIT_MS)
    try:
        yield made
    finally:
        for seat in made.values():
            seat.context.close()


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
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


def ffprobe(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def csrf(seat: Seat) -> dict[str, str]:
    return {"X-CSRF-Token": seat.page.locator("input[name=csrf_token]").first.input_value()}


def prepare_session(officer: Seat) -> tuple[int, int]:
    """Put the complaint on the demo session's agenda (heard at the central endpoint) and
    open the session. Returns the session's and the case's ids."""
    req = officer.page.request
    session = req.get("/api/v1/sessions").json()["items"][0]
    sid = int(session["id"])
    detail = req.get(f"/api/v1/sessions/{sid}").json()
    cases = req.get("/api/v1/cases", params={"q": CASE_CODE}).json()["items"]
    case_id = int(next(c["id"] for c in cases if c["code"] == CASE_CODE))
    agenda = [{"case_id": case_id, "endpoint_id": detail["central_endpoint_id"]}]
    patched = req.patch(f"/api/v1/sessions/{sid}", data={"agenda": agenda}, headers=csrf(officer))
    assert patched.ok, patched.text()
    opened = req.post(f"/api/v1/sessions/{sid}/open", headers=csrf(officer))
    assert opened.ok, opened.text()
    return sid, case_id


def enter(seat: Seat, sid: int) -> None:
    page = seat.page
    page.goto(f"/sessions/{sid}/room")
    join = page.get_by_role("button", name="Tham gia phiên")
    expect(join).to_be_enabled()
    join.click()
    seat.until("(room) => room.joined()", "joined")
    seat.pid = page.evaluate(f"{HOOK}.participantId()")


def record_for(chair: Seat, seconds: float) -> None:
    """Let `seconds` of media be recorded, with the chair's main picture still decoding."""
    start = chair.state()["framesDecoded"].get("main", 0)
    chair.until(
        "(room, [n, t]) => (room.framesDecoded().main ?? 0) > n && Date.now() >= t",
        f"{seconds} s more of media",
        [start, time.time() * 1000 + seconds * 1000],
        timeout_ms=int(seconds * 1000) + WAIT_MS,
    )


def test_record_twenty_seconds_attach_and_export(
    seats: dict[str, Seat], server: tuple[str, Config]
) -> None:
    officer, chair, focal1, focal2 = (seats[n] for n in ("officer", "chair", "focal1", "focal2"))
    for seat in seats.values():
        seat.sign_in()
    sid, case_id = prepare_session(officer)
    for seat in (chair, focal1, focal2):
        enter(seat, sid)
    everyone = [chair.pid, focal1.pid, focal2.pid]
    chair.until(
        "(room, ids) => ids.every(id => room.participants().some("
        "p => p.participant_id === id && p.state === 'live'))",
        "all three participants live",
        everyone,
    )
    focal2.shows_video("main", chair.pid)

    # The chair starts hearing the case, records, gives the floor midway, stops.
    chair.page.get_by_role("button", name="Vụ việc tiếp theo").click()
    expect(chair.page.locator("#agenda-text")).to_contain_text(CASE_CODE)
    chair.page.get_by_role("button", name="Bắt đầu ghi hình").click()
    for seat in (chair, focal1, focal2):
        expect(seat.page.locator("#recording-indicator")).to_be_visible()
    started = time.time()
    record_for(chair, HALF_S)
    row = chair.page.locator(f"#participants li[data-participant='{focal2.pid}']")
    row.get_by_role("button", name="Trao lời").click()
    chair.until("(room, pid) => room.floor() === pid", "the floor given", focal2.pid)
    chair.shows_video("main", focal2.pid)
    record_for(chair, HALF_S)
    chair.page.get_by_role("button", name="Dừng ghi hình").click()
    for seat in (chair, focal1, focal2):
        expect(seat.page.locator("#recording-indicator")).to_be_hidden()
    recorded_s = time.time() - started
    for seat in (chair, focal1, focal2):  # leave the room: the browsers stop decoding
        seat.page.goto("/sessions")

    # Every track file (camera and microphone of three endpoints) stored; ffprobe reads each.
    def stored() -> list[dict[str, Any]]:
        body = officer.page.request.get(f"/api/v1/sessions/{sid}/recordings").json()
        items: list[dict[str, Any]] = body["items"]
        ok = len(items) == 6 and all(i["state"] == "stored" for i in items)
        return items if ok and body["manifests"] else []

    items = eventually(stored, "six track files stored with a manifest")
    root = Path(server[1].storage_url.removeprefix("file://"))
    durations = {
        i["storage_key"]: float(ffprobe(root / i["storage_key"])["format"]["duration"])
        for i in items
    }
    assert max(durations.values()) - min(durations.values()) < 2.0, durations
    for key, seconds in durations.items():
        assert abs(seconds - recorded_s) < 2.5, (key, seconds, recorded_s)
    assert {i["endpoint_id"] for i in items} == {
        i["endpoint_id"] for i in items if i["track_source"] == "camera"
    }
    assert len({i["endpoint_id"] for i in items}) == 3

    # The case page lists the recording with its time range and hash.
    page = officer.page
    page.goto(f"/cases/{case_id}")
    table = page.locator("table.recordings tbody tr")
    expect(table).to_have_count(6)
    for item in items:
        expect(page.locator("table.recordings")).to_contain_text(item["sha256"])
    expect(table.first).to_contain_text("ngày")  # "HH:MM:SS–HH:MM:SS ngày dd/mm/yyyy"

    # The composite export of the case's range, from the page's button (the API behind it).
    page.get_by_role("button", name=f"Xuất video tổng hợp (phiên #{sid})").click()
    job_row = page.locator("#export-rows tr").first
    expect(job_row).to_have_attribute("data-state", re.compile("queued|running|done"))
    page.locator("#exports").scroll_into_view_if_needed()
    _shot(page, "case-export-progress")
    expect(job_row).to_have_attribute("data-state", "done", timeout=60_000)
    expect(job_row).to_contain_text("Đã xong")
    export_id = int(job_row.get_attribute("data-export") or 0)
    job = page.request.get(f"/api/v1/exports/{export_id}").json()
    assert job["state"] == "done" and job["progress"] == 1.0, job
    expect(job_row).to_contain_text(job["sha256"])
    _shot(page, "case-page")

    mp4 = ffprobe(root / job["storage_key"])
    streams = {s["codec_type"]: s for s in mp4["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    heard = (
        datetime.fromisoformat(job["range_to"]) - datetime.fromisoformat(job["range_from"])
    ).total_seconds()
    assert abs(heard - recorded_s) < 2.5, (heard, recorded_s)
    for kind in ("video", "audio"):
        assert abs(float(streams[kind]["duration"]) - heard) < 0.5, (kind, streams[kind], heard)
    for seat in seats.values():
        assert seat.errors == [], f"{seat.username}: page errors {seat.errors}"


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"recording-{name}.png"), full_page=True)
