"""The readiness check through the real bridge, and the reception officer's live board.

focal1 runs the check in headless Chromium with the fake camera and microphone: its media
goes to the bridge's test room and comes back (loopback), the page measures it, and the
server judges what the bridge measured of that media: it passes, with the bridge's figures
as the basis and the browser's beside; the officer's board (Server-Sent Events) shows both;
focal2's endpoint, left untested, turns overdue when the app's clock passes the deadline;
once the endpoint is deactivated the bridge refuses its test room and the check fails: the
bridge received nothing, and the browser's error says why.
Screenshots go to test-artifacts/readiness-*.png."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from scheduling.config import SchedulingConfig
from tests.e2e.live import LiveServer, chromium, live_config
from tests.support import DEMO_PASSWORD, FakeClock

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 20_000
CHECK_MS = 45_000  # connecting, 10 s of measuring, saving


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[str]:
    config = dataclasses.replace(
        live_config(tmp_path_factory.mktemp("readiness")),
        scheduling=SchedulingConfig(board_tick_seconds=0.5),
    )
    server = LiveServer(config, clock)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(media=True) as b:
        yield b


# Keeps the page's peer connections, so the test can read the browser's own estimate.
KEEP_PEER_CONNECTIONS = """
window.__peerConnections = [];
const Original = window.RTCPeerConnection;
window.RTCPeerConnection = function (...args) {
  const pc = new Original(...args);
  window.__peerConnections.push(pc);
  return pc;
};
window.RTCPeerConnection.prototype = Original.prototype;
"""
# The browser's send-side bandwidth estimate on the selected candidate pair (bit/s).
OUTGOING_ESTIMATE = """async () => {
  let best = 0;
  for (const pc of window.__peerConnections) {
    if (pc.connectionState !== 'connected') continue;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = report.get(s.selectedCandidatePairId);
        if (pair && pair.availableOutgoingBitrate) best = Math.max(best, pair.availableOutgoingBitrate);
      }
    });
  }
  return best;
}"""


class User:
    def __init__(self, browser: Browser, base_url: str, username: str) -> None:
        self.context: BrowserContext = browser.new_context(
            base_url=base_url, locale="vi-VN", viewport={"width": 1280, "height": 900}
        )
        self.context.set_default_timeout(WAIT_MS)
        self.context.add_init_script(KEEP_PEER_CONNECTIONS)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page = self.page
        page.goto("/login")
        page.get_by_label("Tên đăng nhập").fill(username)
        page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()

    def api(self, method: str, path: str, data: Any = None) -> Any:
        csrf = self.page.locator("input[name=csrf_token]").first.input_value()
        resp = self.page.request.fetch(
            path, method=method, data=data, headers={"X-CSRF-Token": csrf}
        )
        assert resp.ok, resp.text()
        return resp.json()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"readiness-{name}.png"), full_page=True)


def _run_check(user: User) -> None:
    page = user.page
    page.goto("/readiness/check")
    expect(page.get_by_role("heading", name="Kiểm tra kết nối điểm cầu")).to_be_visible()
    expect(page.locator("#camera-select option")).not_to_have_count(0)
    start = page.get_by_role("button", name="Bắt đầu kiểm tra")
    expect(start).to_be_enabled()
    start.click()


def _row(board: Page, endpoint_id: int) -> Any:
    return board.locator(f"tr.readiness-row[data-endpoint-id='{endpoint_id}']")


def test_check_through_the_bridge_and_the_live_board(
    browser: Browser, base_url: str, clock: FakeClock
) -> None:
    expect.set_options(timeout=WAIT_MS)
    officer = User(browser, base_url, "officer")
    focal1 = User(browser, base_url, "focal1")
    focal2 = User(browser, base_url, "focal2")
    me1 = focal1.api("GET", "/api/v1/auth/me")
    me2 = focal2.api("GET", "/api/v1/auth/me")
    ep1, ep2 = me1["account"]["endpoint_id"], me2["account"]["endpoint_id"]
    board = officer.page
    board.goto("/readiness")
    expect(board.locator("#stream-state")).to_have_text("Đang cập nhật trực tiếp")
    expect(_row(board, ep1)).to_have_attribute("data-state", "pending")
    expect(_row(board, ep2)).to_have_attribute("data-state", "pending")

    # focal1's check, through the bridge and back.
    _run_check(focal1)
    page1 = focal1.page
    expect(page1.locator("#returned-empty")).to_be_hidden()
    page1.wait_for_function(
        "() => window.tiepdanCheck.state().samples >= 4"
        " && document.getElementById('returned').videoWidth > 0",
        timeout=WAIT_MS,
    )
    focal1.shot("check-measuring")
    # Transport-wide congestion control: Chromium numbers its packets, the bridge reports
    # their arrivals and Chromium's own estimate rises within seconds. With REMB alone it
    # starts at 300 kbit/s and climbs by a few percent a second.
    estimate = page1.evaluate(OUTGOING_ESTIMATE)
    assert estimate > 1_000_000, f"the browser's send estimate is {estimate} bit/s"
    expect(page1.locator("#verdict")).to_be_visible(timeout=CHECK_MS)
    state = page1.evaluate("window.tiepdanCheck.state()")
    focal1.shot("check-passed")
    assert page1.locator("#verdict").get_attribute("class") == "verdict passed", (
        state["audio"],
        state["result"],
    )
    expect(page1.locator("#verdict-title")).to_contain_text("Đạt")
    figures = state["result"]["figures"]
    # The bridge's figures: what reached it from Chromium, and Chromium's RTCP reports.
    assert figures["measured_by"] == "bridge", figures
    assert figures["fps"] >= 15 and figures["width"] >= 640, figures
    assert figures["audio_level_seen"] is True and figures["error"] == "", figures
    assert figures["rtt_ms"] is not None and figures["bridge"]["video_packets"] > 0, figures
    assert figures["browser"]["fps"] > 0, "the browser's own, kept beside"
    expect(page1.locator("#bridge-resolution")).to_have_text(
        f"{figures['width']}×{figures['height']}"
    )
    expect(page1.locator("#bridge-audio")).to_have_text("Có tiếng")
    expect(page1.locator("#fig-resolution")).not_to_have_text("–")

    # The board hears of it without a reload.
    expect(_row(board, ep1)).to_have_attribute("data-state", "passed")
    expect(_row(board, ep1).locator(".figures-cell")).to_contain_text("RTT")
    expect(_row(board, ep1).locator(".figures-cell .basis")).to_contain_text(
        "Cầu truyền hình đo: RTT"
    )
    expect(_row(board, ep1).locator(".figures-cell .reported")).to_contain_text(
        "Trình duyệt báo: RTT"
    )
    expect(_row(board, ep1)).to_contain_text("Lê Văn Đức")
    officer.shot("board-passed")

    # The clock passes the deadline: focal2's untested endpoint turns overdue.
    sid = officer.api("GET", "/api/v1/sessions")["items"][0]["id"]
    rows = officer.api("GET", f"/api/v1/sessions/{sid}/readiness")["endpoints"]
    deadline = datetime.fromisoformat(next(r for r in rows if r["endpoint_id"] == ep2)["deadline"])
    clock.now = deadline.astimezone(UTC) + timedelta(minutes=1)
    expect(_row(board, ep2)).to_have_attribute("data-state", "overdue")
    expect(_row(board, ep2)).to_contain_text("Quá hạn")
    expect(_row(board, ep2).locator(".countdown")).to_contain_text("quá hạn")
    expect(_row(board, ep1)).to_have_attribute("data-state", "passed")
    officer.shot("board-overdue")
    for user in (officer, focal1, focal2):
        assert not user.errors, user.errors
        user.context.close()

    # Two days on, the old sign-ins have expired.
    officer = User(browser, base_url, "officer")
    board = officer.page
    board.goto("/readiness")
    expect(_row(board, ep2)).to_have_attribute("data-state", "overdue")

    # An inactive endpoint: the bridge refuses its test room, the check fails and says why.
    admin = User(browser, base_url, "admin")
    admin.api("PATCH", f"/api/v1/endpoints/{ep2}", {"active": False})
    focal2 = User(browser, base_url, "focal2")
    _run_check(focal2)
    page2 = focal2.page
    expect(page2.locator("#verdict.failed")).to_be_visible()
    expect(page2.locator("#verdict-text")).to_contain_text(
        "Cầu truyền hình chưa nhận được hình ảnh và âm thanh từ điểm cầu"
    )
    expect(page2.locator("#verdict-text")).to_contain_text("ngừng hoạt động")
    focal2.shot("check-refused")
    stored = officer.api("GET", f"/api/v1/sessions/{sid}/readiness")["endpoints"]
    row2 = next(r for r in stored if r["endpoint_id"] == ep2)
    assert row2["state"] == "failed" and row2["figures"]["bridge"] is None, row2
    assert "ngừng hoạt động" in row2["figures"]["browser"]["error"], row2
    expect(_row(board, ep2)).to_have_attribute("data-state", "failed")

    officer.page.goto("/calendar")
    expect(officer.page.locator(".cal-event")).not_to_have_count(0)
    officer.shot("calendar-month")
    officer.page.get_by_role("link", name="Tuần", exact=True).click()
    officer.shot("calendar-week")
    for user in (officer, focal2, admin):
        assert not user.errors, user.errors
        user.context.close()
