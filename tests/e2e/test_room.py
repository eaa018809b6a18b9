"""Three real headless Chromium pages in one live session: the chair at the central endpoint
and two district focal staff, with fake cameras and microphones, against the running app.

Each page shows the video it should (framesDecoded increasing); the chair gives the floor to
the second endpoint and every main picture switches; the chair mutes an endpoint; recording
shows its indicator everywhere; a page whose WebSocket is killed comes back on its own.
Screenshots go to test-artifacts/room-*.png for a person to look at."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.live import LiveServer, chromium, live_config
from tests.support import DEMO_PASSWORD

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 20_000
HOOK = "window.tiepdanRoom"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = LiveServer(live_config(tmp_path_factory.mktemp("room")), due=True)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(media=True) as b:
        yield b


class Seat:
    """One participant's browser context and page, with its console errors kept."""

    def __init__(self, browser: Browser, base_url: str, username: str) -> None:
        self.username = username
        self.context: BrowserContext = browser.new_context(
            base_url=base_url, locale="vi-VN", viewport={"width": 1280, "height": 800}
        )
        self.context.set_default_timeout(WAIT_MS)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.pid = ""

    def sign_in(self) -> None:
        page = self.page
        page.goto("/login")
        page.get_by_label("Tên đăng nhập").fill(self.username)
        page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(f"{HOOK}.state()")
        return result

    def until(self, js: str, what: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> None:
        """Wait until `js` (a function of `room`, the test hook, and `arg`) holds; past
        the deadline fail saying what was not met and what the page's state was."""
        body = f"(arg) => {{ const room = {HOOK}; return Boolean(({js})(room, arg)); }}"
        try:
            self.page.wait_for_function(body, arg=arg, timeout=timeout_ms, polling=100)
        except Exception as exc:
            state = json.dumps(self.state(), ensure_ascii=False, default=str)[:3000]
            raise AssertionError(
                f"{self.username}: not met within {timeout_ms} ms: {what}\nstate: {state}"
            ) from exc

    def shows_video(self, slot: str, pid: str | list[str], frames: int = 15) -> None:
        """The slot is fed by `pid` (or any of a list), the picture has a size and
        framesDecoded keeps going."""
        pids = [pid] if isinstance(pid, str) else pid
        self.until(
            "(room, [slot, pids]) => pids.includes(room.slots()[slot]?.participant_id)",
            f"slot {slot} fed by one of {pids}",
            [slot, pids],
        )
        start = self.state()["framesDecoded"].get(slot, 0)
        self.until(
            "(room, [slot, n]) => (room.framesDecoded()[slot] ?? 0) >= n"
            " && room.video(slot)?.width > 0",
            f"slot {slot} decoding {frames} more frames after {start}",
            [slot, start + frames],
        )

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"room-{name}.png"), full_page=True)


@pytest.fixture
def seats(browser: Browser, base_url: str) -> Iterator[dict[str, Seat]]:
    made = {name: Seat(browser, base_url, name) for name in ("chair", "focal1", "focal2")}
    expect.set_options(timeout=WAIT_MS)
    try:
        yield made
    finally:
        for seat in made.values():
            seat.context.close()


def _open_live_session(chair: Seat) -> int:
    page = chair.page
    items = page.request.get("/api/v1/sessions").json()["items"]
    sid = int(items[0]["id"])
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    resp = page.request.post(f"/api/v1/sessions/{sid}/open", headers={"X-CSRF-Token": csrf})
    assert resp.ok, resp.text()
    return sid


def _enter_room(seat: Seat, sid: int, shot: bool = False) -> None:
    page = seat.page
    page.goto(f"/sessions/{sid}/room")
    expect(page.get_by_role("heading", name="Chuẩn bị tham gia phiên")).to_be_visible()
    join = page.get_by_role("button", name="Tham gia phiên")
    expect(join).to_be_enabled()
    expect(page.locator("#camera-select option")).not_to_have_count(0)
    expect(page.locator("#prejoin-error")).to_be_hidden()
    if shot:
        seat.until(
            "() => Number(document.getElementById('prejoin-level').dataset.level) > 0",
            "the microphone level meter moving",
        )
        seat.shot(f"prejoin-{seat.username}")
    join.click()
    seat.until("(room) => room.joined()", "joined")
    seat.pid = seat.page.evaluate(f"{HOOK}.participantId()")


def test_three_browsers_in_one_live_session(seats: dict[str, Seat], base_url: str) -> None:
    chair, focal1, focal2 = seats["chair"], seats["focal1"], seats["focal2"]
    for seat in seats.values():
        seat.sign_in()
    sid = _open_live_session(chair)
    assert chair.page.request.get("/sessions/999999/room").status == 404

    _enter_room(chair, sid, shot=True)
    _enter_room(focal1, sid)
    _enter_room(focal2, sid)
    everyone = [chair.pid, focal1.pid, focal2.pid]
    for seat in seats.values():
        seat.until(
            "(room, ids) => ids.every(id => room.participants().some("
            "p => p.participant_id === id && p.state === 'live'))",
            "all three participants live",
            everyone,
        )
    assert chair.page.evaluate(f"{HOOK}.mayChair()") is True
    expect(chair.page.get_by_role("heading", name="Điều hành phiên")).to_be_visible()
    expect(focal1.page.get_by_role("heading", name="Điều hành phiên")).to_be_hidden()

    # Who sees whom: the endpoints see the chair; the chair sees an endpoint in its main
    # picture and the other in a thumbnail.
    focal1.shows_video("main", chair.pid)
    focal2.shows_video("main", chair.pid)
    # With no floor given, the central endpoint's main picture follows the dominant speaker,
    # which may move between the two endpoints (both fake microphones beep): either will do.
    endpoints = [focal1.pid, focal2.pid]
    chair.shows_video("main", endpoints)
    chair.shows_video("thumbnail0", endpoints)
    for seat in seats.values():
        seat.shot(f"{seat.username}-joined")

    # The chair gives the floor to the second endpoint: every main picture switches (the
    # floor holder's own page keeps showing the chair) and keeps decoding.
    row = chair.page.locator(f"#participants li[data-participant='{focal2.pid}']")
    row.get_by_role("button", name="Trao lời").click()
    for seat in seats.values():
        seat.until("(room, pid) => room.floor() === pid", "the floor given", focal2.pid)
    chair.shows_video("main", focal2.pid)
    focal1.shows_video("main", focal2.pid)
    focal2.shows_video("main", chair.pid)
    expect(focal1.page.locator("#main-tile .tile-flag")).to_contain_text("Đang được trao lời")
    expect(row.get_by_role("button", name="Thu hồi lời")).to_be_visible()

    # The chair mutes the first endpoint: everyone sees it, its own button says so, and
    # the bridge stops forwarding its sound.
    chair.page.locator(f"#participants li[data-participant='{focal1.pid}']").get_by_role(
        "button", name="Tắt micro"
    ).click()
    for seat in seats.values():
        seat.until(
            "(room, pid) => room.participants().find(p => p.participant_id === pid)"
            "?.microphone_muted === true",
            "the first endpoint muted",
            focal1.pid,
        )
    expect(focal1.page.locator("#mic-button")).to_have_text("Bật micro")
    expect(focal1.page.get_by_text("Người chủ trì đã tắt micro của bạn.")).to_be_visible()
    chair.until(
        "(room, pid) => Object.values(room.slots()).every("
        "s => s.kind !== 'audio' || s.participant_id !== pid)",
        "no audio slot fed by the muted endpoint",
        focal1.pid,
    )

    # Recording: the red indicator on every page.
    chair.page.get_by_role("button", name="Bắt đầu ghi hình").click()
    for seat in seats.values():
        expect(seat.page.locator("#recording-indicator")).to_have_text("ĐANG GHI HÌNH")
        expect(seat.page.locator("#recording-indicator")).to_be_visible()
    for seat in seats.values():
        seat.shot(f"{seat.username}-floor-muted-recording")

    # The first endpoint's WebSocket dies: the banner shows, the page rejoins on its own,
    # takes its place back (still muted, the floor unchanged) and decodes again.
    focal1.page.evaluate(f"{HOOK}.killSocket()")
    focal1.until("(room) => room.reconnecting()", "reconnecting after the socket died")
    expect(focal1.page.get_by_text("Mất kết nối, đang kết nối lại…")).to_be_visible()
    focal1.shot("focal1-reconnecting")
    focal1.until("(room) => room.joined() && !room.reconnecting()", "joined again")
    expect(focal1.page.get_by_text("Mất kết nối, đang kết nối lại…")).to_be_hidden()
    assert focal1.page.evaluate(f"{HOOK}.participantId()") == focal1.pid
    focal1.until("(room, pid) => room.floor() === pid", "the floor still held", focal2.pid)
    focal1.shows_video("main", focal2.pid)
    chair.until(
        "(room, pid) => room.participants().find(p => p.participant_id === pid)?.state === 'live'",
        "the first endpoint live again",
        focal1.pid,
    )
    chair.page.get_by_role("button", name="Dừng ghi hình").click()
    for seat in seats.values():
        expect(seat.page.locator("#recording-indicator")).to_be_hidden()
    focal1.shot("focal1-reconnected")
    chair.shot("chair-end")

    for seat in seats.values():
        assert seat.errors == [], f"{seat.username}: page errors {seat.errors}"
