"""Real headless Chromium: the reception officer schedules a session for tomorrow on the
pages alone (the central point, two endpoints, two cases found by search and put in order)
and finds it on the calendar. Screenshots go to test-artifacts/ to be looked at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.live import LiveServer, live_config, served_page
from tests.support import DEMO_PASSWORD, FakeClock

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 10_000
VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    # A fixed clock (Monday 23/11/2026, 09:00 in Hanoi): "tomorrow" is then never the day
    # of the demo's own session (the seed puts it two UTC days ahead).
    server = LiveServer(live_config(tmp_path), FakeClock())
    with served_page(server, WAIT_MS) as page:
        yield page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def agenda_codes(page: Page) -> list[str]:
    return page.locator("table.agenda tr.agenda-row strong").all_inner_texts()


def test_officer_schedules_tomorrow_and_sees_it_on_the_calendar(page: Page) -> None:
    tomorrow = (FakeClock().now.astimezone(VN) + timedelta(days=1)).date()
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill("officer")
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role("link", name="Lịch").click()
    page.get_by_role("link", name="Lên lịch phiên").click()
    expect(page.get_by_role("heading", name="Lên lịch phiên tiếp công dân")).to_be_visible()

    # Saved with nothing filled in: every problem at once, each beside its field.
    page.get_by_role("button", name="Lên lịch phiên").click()
    expect(page.locator("#err-title")).to_have_text("bắt buộc")
    expect(page.locator("[id='err-chair_id']")).to_have_text("bắt buộc")
    shot(page, "schedule-errors")

    page.get_by_label("Tên phiên").fill("Tiếp công dân về đất đai – Tân Phú, Hòa Bình")
    page.get_by_label("Người chủ trì").select_option(label="Nguyễn Văn Minh – Chủ tịch UBND tỉnh")
    page.get_by_label("Ngày").fill(tomorrow.isoformat())
    page.get_by_label("Giờ bắt đầu").fill("08:00")
    page.get_by_label("Giờ kết thúc").fill("10:30")
    expect(page.get_by_label("Điểm cầu trung tâm")).to_have_value(re.compile("[0-9]+"))
    page.get_by_label("Điểm cầu xã Tân Phú").check()
    page.get_by_label("Điểm cầu phường Hòa Bình").check()

    search = page.get_by_placeholder(re.compile("Mã hồ sơ"))
    search.fill("nguyen van an")  # a citizen's name, without diacritics
    page.get_by_role("button", name="Tìm", exact=True).click()
    expect(page.locator("table.results")).to_contain_text("HS-MAU-001")
    page.locator("table.results").get_by_role("button", name="Thêm vào chương trình").click()
    page.get_by_placeholder(re.compile("Mã hồ sơ")).fill("o nhiem")
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.locator("table.results").get_by_role("button", name="Thêm vào chương trình").click()
    assert agenda_codes(page) == ["HS-MAU-001", "HS-MAU-002"]
    # Each case at the endpoint of its commune, its citizen ticked.
    expect(page.locator("select[name='agenda[1].endpoint_id']")).to_have_value(re.compile("[0-9]+"))
    expect(page.get_by_label("Nguyễn Văn An")).to_be_checked()
    shot(page, "schedule-agenda")

    page.get_by_role("button", name="Đưa mục 1 xuống").click()
    expect(page).to_have_url(re.compile("/sessions/new#agenda$"))  # back at the agenda
    expect(page.locator("table.agenda tr.agenda-row strong").first).to_have_text("HS-MAU-002")
    assert agenda_codes(page) == ["HS-MAU-002", "HS-MAU-001"]
    shot(page, "schedule-reordered")
    page.get_by_role("button", name="Lên lịch phiên").click()
    expect(page.get_by_role("status")).to_have_text("Đã lưu lịch phiên.")
    expect(page.get_by_role("heading", name=re.compile("Tiếp công dân về đất đai"))).to_be_visible()
    rows = page.locator("h2:has-text('Chương trình tiếp') + table tbody tr")
    expect(rows.nth(0)).to_contain_text("HS-MAU-002")
    expect(rows.nth(1)).to_contain_text("HS-MAU-001")
    expect(page.get_by_text("Điểm cầu xã Tân Phú; Điểm cầu phường Hòa Bình")).to_be_visible()
    expect(page.get_by_text(f"08:00 {tomorrow:%d/%m/%Y}", exact=False)).to_be_visible()
    shot(page, "schedule-saved")

    page.goto(f"/calendar?view=week&date={tomorrow.isoformat()}")
    cell = page.locator(f"td[data-date='{tomorrow.isoformat()}']")
    expect(cell.get_by_role("link", name=re.compile("Tiếp công dân về đất đai"))).to_contain_text(
        "08:00–10:30"
    )
    shot(page, "schedule-calendar")
