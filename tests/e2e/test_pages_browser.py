"""Real headless Chromium against the app on a loopback port: signing in, the Vietnamese
home page, a wrong password, an administrator creating an account through the form.

Screenshots go to test-artifacts/ for a person to look at the layout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.live import LiveServer, chromium, live_config
from tests.support import DEMO_PASSWORD

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = LiveServer(live_config(tmp_path_factory.mktemp("e2e")))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(media=False) as b:
        yield b


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, Vietnamese locale, laptop-sized."""
    context = browser.new_context(
        base_url=base_url, locale="vi-VN", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def test_leader_signs_in_and_sees_the_vietnamese_home(page: Page) -> None:
    sign_in(page, "chair")
    expect(page.get_by_role("heading", name="Xin chào, Nguyễn Văn Minh")).to_be_visible()
    expect(page.get_by_text("Vai trò: Lãnh đạo chủ trì")).to_be_visible()
    nav = page.get_by_role("navigation", name="Điều hướng chính")
    expect(nav.get_by_role("link", name="Hồ sơ vụ việc")).to_be_visible()
    expect(nav.get_by_role("link", name="Tài khoản")).to_have_count(0)
    expect(page).to_have_title("Trang chủ – Tiếp công dân trực tuyến")
    shot(page, "home-chair")
    nav.get_by_role("link", name="Phiên tiếp công dân").click()
    page.get_by_role("link", name="Tiếp công dân định kỳ tháng (mẫu)").click()
    expect(page.get_by_role("heading", name="Chương trình tiếp")).to_be_visible()
    expect(page.get_by_role("cell", name="Điểm cầu xã Tân Phú")).to_be_visible()  # readiness
    shot(page, "session-detail-chair")


def test_wrong_password_shows_the_vietnamese_error(page: Page) -> None:
    sign_in(page, "chair", "mat-khau-sai-roi")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Tên đăng nhập hoặc mật khẩu không đúng.")
    expect(alert).to_contain_text("lần thử")  # how many remain before the lock
    expect(page.get_by_label("Tên đăng nhập")).to_have_value("chair")
    expect(page.get_by_label("Mật khẩu")).to_have_value("")
    expect(page.get_by_label("Mật khẩu")).to_be_focused()
    shot(page, "login-wrong-password")


def test_archivist_sees_the_denouncer_withheld(page: Page) -> None:
    sign_in(page, "archivist")
    page.goto("/cases?kind=denunciation")
    page.get_by_role("link", name="HS-MAU-003").click()
    expect(page.get_by_role("heading", name=re.compile("HS-MAU-003"))).to_be_visible()
    expect(page.locator("td .badge.withheld")).to_have_text("Đã ẩn")
    expect(page.get_by_text("Vũ Đức Cường")).to_have_count(0)
    shot(page, "case-withheld-archivist")
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Công dân", exact=True
    ).click()
    expect(page.get_by_role("cell", name="Nguyễn Văn An")).to_be_visible()
    expect(page.get_by_text("Vũ Đức Cường")).to_have_count(0)
    shot(page, "citizens-archivist")


def test_admin_creates_an_account_through_the_form(page: Page) -> None:
    sign_in(page, "admin")
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Tài khoản"
    ).click()
    form = page.locator("form[action='/admin/accounts']")
    form.get_by_label("Tên đăng nhập").fill("dau.moi3")
    form.get_by_label("Họ và tên").fill("Đặng Thị Ánh")
    form.get_by_label("Chức vụ").fill("Cán bộ đầu mối xã Đông Hưng")
    form.locator("select[name=unit_id]").select_option(label="— Xã Đông Hưng")
    form.get_by_label("Cán bộ đầu mối", exact=True).check()
    form.get_by_label("Mật khẩu ban đầu").fill("ngan")
    form.get_by_role("button", name="Tạo tài khoản").click()
    # Too short a password, and focal staff without an endpoint: the form comes back with
    # what was typed and the error next to the field.
    expect(page.locator("#err-password")).to_have_text("tối thiểu 10 ký tự")
    expect(form.get_by_label("Họ và tên")).to_have_value("Đặng Thị Ánh")
    shot(page, "account-form-error")
    form.get_by_label("Mật khẩu ban đầu").fill("mat-khau-dau-moi-3")
    form.locator("select[name=endpoint_id]").select_option(label="Điểm cầu xã Đông Hưng")
    form.get_by_role("button", name="Tạo tài khoản").click()
    expect(page.get_by_role("status")).to_have_text("Đã lưu.")
    expect(page.get_by_role("heading", name=re.compile("Đặng Thị Ánh"))).to_be_visible()
    shot(page, "account-created")
    page.goto("/admin/accounts?q=dang+thi+anh")
    expect(page.get_by_role("link", name="dau.moi3")).to_be_visible()
    page.goto("/admin/units")
    expect(page.get_by_role("link", name="Xã Đông Hưng")).to_be_visible()
    shot(page, "admin-units")
    page.goto("/audit?action=account.create")
    expect(page.get_by_role("cell", name=re.compile(r"\(admin\)$")).first).to_be_visible()
    expect(page.get_by_role("cell", name="Tạo tài khoản", exact=True).first).to_be_visible()
    shot(page, "audit-account-create")
