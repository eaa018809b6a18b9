"""Replay of the sample archive in real headless Chromium (normal autoplay policy: the one
click on «Phát» must be enough to start every track with its sound).

The archivist finds the session in the archive and opens the player. Playback starts; at the
recorded floor change the main picture switches to that endpoint's camera, told apart by its
colour (central blue, Tân Phú red, Hòa Bình green: web/sample_archive.py); a chapter jump
lands within 0.5 s of the case's start on every media element; at 2× for 30 s every follower
stays within 100 ms of the master clock; the replay start is in the audit log.
Screenshots go to test-artifacts/replay-*.png."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.live import LiveServer, chromium, live_config
from tests.e2e.test_room import ARTIFACTS
from tests.support import DEMO_PASSWORD
from web.sample_archive import TITLE, seed_sample_archive

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
HOOK = "window.tiepdanReplay"
# The colour of the main picture, averaged over a scaled-down copy: which channel leads.
MAIN_COLOUR = """() => {
  const v = document.querySelector('#stage .tile.main video');
  if (!v || v.readyState < 2 || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = 32; c.height = 24;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, 32, 24);
  const d = g.getImageData(0, 0, 32, 24).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) { sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2]; }
  return ['red', 'green', 'blue'][sum.indexOf(Math.max(...sum))];
}"""
# From now on, the largest drift of any follower that should be playing (not while seeking).
WATCH_DRIFT = """() => {
  window.__maxDrift = 0; window.__samples = 0;
  window.__drift = setInterval(() => {
    const r = window.tiepdanReplay;
    for (const f of r.followers()) {
      if (f.wanted === null || f.paused) continue;
      window.__maxDrift = Math.max(window.__maxDrift, Math.abs(f.drift));
    }
    window.__samples++;
  }, 100);
}"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = live_config(tmp_path_factory.mktemp("replay"))
    server = LiveServer(config)
    try:
        url = server.start()
        made = asyncio.run_coroutine_threadsafe(seed_sample_archive(config), server.loop).result(
            timeout=120
        )
        assert made.created, made
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(media=False) as b:
        yield b


def _page(browser: Browser, base_url: str, username: str) -> Page:
    context = browser.new_context(
        base_url=base_url, locale="vi-VN", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"replay-{name}.png"), full_page=True)


def until(page: Page, js: str, what: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> Any:
    try:
        return page.wait_for_function(js, arg=arg, timeout=timeout_ms, polling=100).json_value()
    except Exception as exc:
        state = page.evaluate(f"() => ({{t: {HOOK}?.now(), f: {HOOK}?.followers()}})")
        raise AssertionError(f"not met within {timeout_ms} ms: {what}; state {state}") from exc


def test_replay_the_sample_archive(browser: Browser, base_url: str) -> None:
    expect.set_options(timeout=WAIT_MS)
    page = _page(browser, base_url, "archivist")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    nav = page.get_by_role("navigation", name="Điều hướng chính")
    nav.get_by_role("link", name="Kho lưu trữ").click()
    page.get_by_role("button", name=re.compile("Tìm")).first.click()
    page.get_by_role("link", name=TITLE).first.click()
    page.get_by_role("link", name="Xem lại phiên").first.click()
    expect(page.get_by_role("heading", name=re.compile("Xem lại phiên"))).to_be_visible()
    timeline: dict[str, Any] = page.request.get(
        page.url.replace("/replay", "").replace("/sessions/", "/api/v1/sessions/") + "/timeline"
    ).json()
    floor_at = timeline["floor"][0]["t_s"]
    first = min(t["offset_s"] for t in timeline["tracks"])
    chapters = timeline["chapters"]
    assert len(chapters) == 2 and len(timeline["tracks"]) == 6, timeline
    until(page, f"() => {HOOK} && {HOOK}.followers().length === 6", "the player is built")
    shot(page, "1-before-play")

    # One click starts everything, with sound; before the floor change, the central point.
    page.get_by_role("button", name="Phát").click()
    until(
        page,
        f"() => {HOOK}.followers().every(f => f.wanted === null || (!f.paused && f.readyState >= 3))",
        "every track playing",
    )
    assert page.evaluate(f"() => {HOOK}.followers().some(f => f.kind === 'audio' && !f.paused)")
    muted = page.evaluate(
        "() => [...document.querySelectorAll('#audio-box audio')].map(a => a.muted)"
    )
    assert muted and not any(muted), "every microphone is heard"
    if page.evaluate(f"() => {HOOK}.now()") < floor_at - 1:
        assert until(page, MAIN_COLOUR, "a main picture") == "blue"
    # The recorded floor change: the main picture becomes Tân Phú's (red).
    until(page, f"() => {HOOK}.now() > {floor_at + 1}", "past the floor change")
    until(page, f"() => ({MAIN_COLOUR})() === 'red'", "Tân Phú's camera in the main picture")
    expect(page.locator("#main-name")).to_have_text("Điểm cầu xã Tân Phú")
    shot(page, "2-floor-tan-phu")

    # A chapter jump: every element lands within 0.5 s of the second case's start.
    page.get_by_role("button", name="Tạm dừng").click()
    second = chapters[1]
    page.get_by_role("button", name=f"Chuyển đến vụ việc {second['case_code']}").click()
    landed = until(
        page,
        f"""(start) => {{
          const fs = {HOOK}.followers().filter(f => f.wanted !== null);
          const ok = fs.length === 6 && fs.every(f => Math.abs(f.currentTime - f.wanted) < 0.5
            && Math.abs({HOOK}.now() - start) < 0.5);
          return ok ? fs.map(f => f.currentTime - f.wanted) : false;
        }}""",
        "every element at the chapter's start",
        second["start_s"],
    )
    assert all(abs(d) < 0.5 for d in landed), landed
    until(page, f"() => ({MAIN_COLOUR})() === 'green'", "Hòa Bình's camera at the second case")
    expect(page.locator("#chapters li.current")).to_contain_text(second["case_code"])
    shot(page, "3-chapter-hoa-binh")

    # 2× for 30 s from the first recorded frame: the followers stay within 100 ms.
    page.get_by_label("Tốc độ").select_option("2")
    page.evaluate(f"() => {HOOK}.clock.seek({first})")
    page.get_by_role("button", name="Phát").click()
    until(  # settled: two seconds on, every output started and caught up
        page,
        f"() => {HOOK}.now() > {first + 2} && {HOOK}.followers().every(f => f.wanted === null"
        " || (!f.paused && Math.abs(f.drift) < 0.05))",
        "every follower caught up at 2×",
    )
    page.evaluate(WATCH_DRIFT)
    started = page.evaluate(f"() => {HOOK}.now()")
    page.wait_for_timeout(30_000)  # the measured span itself: 30 s of playback at 2×
    worst, samples, now = page.evaluate(
        f"() => [window.__maxDrift, window.__samples, {HOOK}.now()]"
    )
    assert samples > 200, samples
    assert now - started > 50, (started, now)  # the master ran at about 2×
    assert worst <= 0.1, f"a follower drifted {worst * 1000:.0f} ms from the master"
    shot(page, "4-double-speed")

    # Keyboard: ← goes back 10 s.
    before = page.evaluate(f"() => {HOOK}.now()")
    page.locator("body").press("ArrowLeft")
    after = page.evaluate(f"() => {HOOK}.now()")
    assert 8 < before - after < 12, (before, after)
    assert errors == [], errors

    auditor = _page(browser, base_url, "auditor")
    records = auditor.request.get("/api/v1/audit", params={"action": "recording.replay"}).json()
    assert records["items"], "the replay start is audited"
    assert any(r["detail"].get("t") is not None for r in records["items"]), records["items"][:2]
