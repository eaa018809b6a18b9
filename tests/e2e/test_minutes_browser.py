"""Minutes in real headless Chromium: the officer writes the minutes of a case heard in an
ended session, the chair finalizes them and downloads the PDF. Screenshots go to
test-artifacts/minutes-*.png."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from sessions.db import create_engine, session_factory, transaction
from tests.e2e.live import START_TIMEOUT, LiveServer, chromium, live_config
from tests.minutes_kit import COMPLAINANT, ended_session
from tests.support import DEMO_PASSWORD

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 10_000


async def _end_the_session(server: LiveServer) -> None:
    engine = create_engine(server.config.database)
    try:
        async with transaction(session_factory(engine)) as db:
            await ended_session(db)
    finally:
        await engine.dispose()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    server = LiveServer(live_config(tmp_path))
    base_url = server.start()
    try:
        asyncio.run_coroutine_threadsafe(_end_the_session(server), server.loop).result(
            timeout=START_TIMEOUT
        )
        with chromium() as browser:
            context = browser.new_context(base_url=base_url, locale="vi-VN", accept_downloads=True)
            context.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            yield context.new_page()
            context.close()
    finally:
        server.stop()


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"minutes-{name}.png"), full_page=True)


def test_officer_writes_the_chair_finalizes_and_downloads(page: Page) -> None:
    _sign_in(page, "officer")
    page.goto("/sessions/1")
    page.get_by_role("link", name="Biên bản", exact=True).click()
    page.get_by_role("link", name="Lập biên bản").nth(1).click()  # the first case's
    expect(page.get_by_text(COMPLAINANT).first).to_be_visible()  # pre-filled
    page.get_by_label("Nội dung công dân trình bày").fill("Công dân đề nghị xem xét lại.")
    page.get_by_label("Ý kiến kết luận của người chủ trì").fill("Giao Sở kiểm tra, trả lời.")
    page.get_by_label("Đơn vị thực hiện, dòng 1").select_option(
        label="— Sở Nông nghiệp và Môi trường"
    )
    page.get_by_label("Nội dung chỉ đạo, dòng 1").fill("Kiểm tra hồ sơ thu hồi đất")
    page.get_by_label("Thời hạn, dòng 1").fill("2026-12-31")
    shot(page, "1-form")
    page.get_by_role("button", name="Lưu bản nháp").click()
    expect(page.get_by_text("Đã lưu bản nháp.")).to_be_visible()

    page.get_by_role("button", name="Đăng xuất").click()
    _sign_in(page, "chair")
    page.goto("/minutes/1")
    page.get_by_label(re.compile("Tôi là người chủ trì")).check()
    page.get_by_role("button", name="Hoàn tất biên bản").click()
    expect(page.get_by_text("Khớp nội dung đã niêm phong")).to_be_visible()
    shot(page, "2-final")
    with page.expect_download() as info:
        page.get_by_role("link", name="Tải PDF").click()
    path = info.value.path()
    assert path is not None and Path(path).read_bytes().startswith(b"%PDF")
