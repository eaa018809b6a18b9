"""The archive: searching ended sessions by every filter (a citizen's name without its
diacritics), paging, the unit scope, a protected denouncer's name that an uncleared account
cannot find, the archive page, the integrity check and the move to `archived`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.db import transaction
from sessions.models import (
    Account,
    AuditRecord,
    Minutes,
    MinutesState,
    ReceptionSession,
    Role,
    SessionKind,
    SessionState,
    utcnow,
)
from sessions.text import search_key
from tests.web.archive_kit import T0, central_endpoint, ended_session, other_unit_account, seal
from tests.web.conftest import Caller, Login
from web.config import Config
from web.keys import DB
from web.recording_checks import verify_command

API = "/api/v1/archive/sessions"


async def _titles(who: Caller, query: str = "") -> list[str]:
    reply = await who.get(f"{API}?{query}")
    assert reply.status == 200, (query, reply.text)
    return [i["title"] for i in reply.body["items"]]


async def _more_sessions(client: TestClient[Any, Any], count: int) -> None:
    """Ended sessions of the province with nothing on their agenda, one a day before T0."""
    async with transaction(client.app[DB]) as s:
        chair = await s.scalar(select(Account).where(Account.username == "chair"))
        assert chair is not None
        central = await central_endpoint(client)
        first = await s.scalar(select(ReceptionSession).order_by(ReceptionSession.id))
        assert first is not None
        for i in range(count):
            title = f"Phiên lưu trữ số {i + 1}"
            s.add(
                ReceptionSession(
                    title=title,
                    title_key=search_key(title),
                    kind=SessionKind.AD_HOC,
                    state=SessionState.ENDED,
                    unit_id=first.unit_id,
                    chair_id=chair.id,
                    central_endpoint_id=central,
                    starts_at=T0 - timedelta(days=i + 1),
                    ends_at=T0 - timedelta(days=i + 1) + timedelta(hours=1),
                    endpoints=[],
                    attendees=[],
                    agenda=[],
                )
            )


async def test_search_by_each_filter(client: TestClient[Any, Any], as_user: Login) -> None:
    rec = await ended_session(client, codes=("HS-MAU-001", "HS-MAU-002"), heard={"HS-MAU-001": ""})
    await _more_sessions(client, 3)
    archivist = await as_user("archivist")
    demo = "Tiếp công dân định kỳ tháng (mẫu)"
    assert len(await _titles(archivist)) == 4
    # Dates are local (Asia/Ho_Chi_Minh): T0 is 09:00 on 20/11/2026 there.
    assert await _titles(archivist, "from=2026-11-20&to=2026-11-20") == [demo]
    assert await _titles(archivist, "from=2026-11-18&to=2026-11-19") == [
        "Phiên lưu trữ số 1",
        "Phiên lưu trữ số 2",
    ]
    assert await _titles(archivist, "case_code=hs-mau-002") == [demo]
    assert await _titles(archivist, "case_kind=petition") == [demo]
    assert await _titles(archivist, "case_kind=dispute") == []
    # The citizen heard for HS-MAU-001 is "Nguyễn Văn An": found without diacritics, any case.
    assert await _titles(archivist, "citizen=NGUYEN%20van%20an") == [demo]
    assert await _titles(archivist, "citizen=Tr%E1%BA%A7n%20Th%E1%BB%8B%20B%C3%ADch") == [demo]
    assert await _titles(archivist, "citizen=le%20thi%20khong%20co") == []
    async with client.app[DB]() as db:
        chair = await db.scalar(select(Account.id).where(Account.username == "chair"))
        officer = await db.scalar(select(Account.id).where(Account.username == "officer"))
    assert len(await _titles(archivist, f"chair_id={chair}")) == 4
    assert await _titles(archivist, f"chair_id={officer}") == []
    central = await central_endpoint(client)
    assert len(await _titles(archivist, f"endpoint_id={central}")) == 4
    assert await _titles(archivist, "q=so%203") == ["Phiên lưu trữ số 3"]
    # Scheduled or live sessions are not in the archive.
    async with transaction(client.app[DB]) as s:
        row = await s.get(ReceptionSession, rec.session_id)
        assert row is not None
        row.state = SessionState.LIVE
    assert demo not in await _titles(archivist)


async def test_paging(client: TestClient[Any, Any], as_user: Login) -> None:
    await _more_sessions(client, 5)
    chair = await as_user("chair")
    first = await chair.get(f"{API}?per_page=2&page=1")
    third = await chair.get(f"{API}?per_page=2&page=3")
    assert first.body["total"] == 5 and len(first.body["items"]) == 2
    assert [i["title"] for i in third.body["items"]] == ["Phiên lưu trữ số 5"]
    page = await chair.get("/archive?per_page=2&page=2")
    assert page.status == 200 and "Trang 2/3" in page.text and "Phiên lưu trữ số 3" in page.text


async def test_bad_filters_are_named_all_at_once(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    officer = await as_user("officer")
    reply = await officer.get(f"{API}?from=2026-13-01&to=hôm-qua&unit_id=x&case_kind=foo&page=0")
    assert reply.status == 422
    assert set(reply.error_fields) >= {"from", "to", "unit_id", "case_kind", "page"}
    reply = await officer.get(f"{API}?from=2026-11-20&to=2026-11-19")
    assert reply.status == 422 and "to" in reply.error_fields
    page = await officer.get("/archive?from=2026-02-30&case_kind=foo")
    assert page.status == 422
    assert 'id="err-from"' in page.text and 'id="err-case_kind"' in page.text
    assert "không tồn tại" in page.text


async def test_scope_per_unit(client: TestClient[Any, Any], as_user: Login) -> None:
    await ended_session(client)
    await other_unit_account(client, "archivist_tp", Role.ARCHIVIST)
    await other_unit_account(client, "leader_tp", Role.LEADER)
    for username in ("archivist_tp", "leader_tp"):
        outsider = await as_user(username)
        assert await _titles(outsider) == [], username
        page = await outsider.get("/archive")
        assert page.status == 200 and "Không tìm thấy phiên nào." in page.text
    # A unit filter outside the caller's scope is refused, naming the field.
    async with client.app[DB]() as db:
        province = await db.scalar(select(ReceptionSession.unit_id).order_by(ReceptionSession.id))
    reply = await (await as_user("archivist_tp")).get(f"{API}?unit_id={province}")
    assert reply.status == 403 and "unit_id" in reply.error_fields
    # Focal staff, the administrator and the auditor have no archive.
    for username in ("focal1", "admin", "auditor"):
        assert (await (await as_user(username)).get(API)).status == 403, username


async def test_a_protected_denouncers_name_is_not_findable_by_the_uncleared(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    # HS-MAU-003 is a denunciation by "Vũ Đức Cường", heard in the session.
    await ended_session(client, codes=("HS-MAU-003",), heard={"HS-MAU-003": ""})
    q = "citizen=vu%20duc%20cuong"
    archivist = await as_user("archivist")  # not cleared
    assert await _titles(archivist, q) == []
    page = await archivist.get(f"/archive?{q}")
    assert page.status == 200 and "Không tìm thấy phiên nào." in page.text
    officer = await as_user("officer")  # cleared for the case
    assert len(await _titles(officer, q)) == 1
    # The same search by case code finds it: the case is not secret, its denouncer is.
    found = await archivist.get(f"{API}?case_code=HS-MAU-003")
    assert found.body["total"] == 1
    # The archive page keeps the identity withheld, for the cleared officer too (on arrival).
    sid = found.body["items"][0]["id"]
    pages = {}
    for who in (archivist, officer):
        page = await who.get(f"/sessions/{sid}/archive")
        assert page.status == 200 and "Đã ẩn" in page.text
        assert "Cường" not in page.text and "Cuong" not in page.text
        pages[who.username] = page.text
    # Its recordings: restricted for the archivist, replayable by the cleared officer.
    assert "Hạn chế (vụ việc tố cáo)" in pages["archivist"]
    assert (
        "Hạn chế (vụ việc tố cáo)" not in pages["officer"]
        and "/media?download=1" in pages["officer"]
    )


async def test_archive_page_and_the_move_to_archived(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    rec = await ended_session(client)
    archivist = await as_user("archivist")
    page = await archivist.get(f"/sessions/{rec.session_id}/archive")
    assert page.status == 200
    for text in (
        "Chương trình tiếp",
        "HS-MAU-001",
        "Bản ghi hình",
        "1 phút 30,0 giây",
        "Chưa kiểm tra",
        "Biên bản",
        "Diễn biến của phiên",
        "Chuyển vụ việc",
        "Phiên chưa có biên bản.",
        "Bản ghi chưa được kiểm tra toàn vẹn.",
    ):
        assert text in page.text, text
    url = f"/sessions/{rec.session_id}/archive"
    form = {"csrf_token": archivist.csrf, "confirm": "on"}
    # Refused, with every reason on the page: no minutes, files in no manifest.
    refused = await archivist.call("POST", url, data=form)
    assert refused.status == 422 and "Phiên chưa có biên bản." in refused.text
    checked = await archivist.call(
        "POST", f"{url}/verify", data={"csrf_token": archivist.csrf, "files": "all"}
    )
    assert checked.status == 303
    page = await archivist.get(url)
    assert "Phát hiện sai lệch" in page.text and "not listed in any manifest" in page.text
    # The files listed in a manifest, a draft of the minutes: still refused.
    await seal(client, rec)
    assert (
        await archivist.call(
            "POST", f"{url}/verify", data={"csrf_token": archivist.csrf, "files": "all"}
        )
    ).status == 303
    async with transaction(client.app[DB]) as s:
        s.add(
            Minutes(
                session_id=rec.session_id,
                item_key=0,
                version=1,
                body="Biên bản",
                state=MinutesState.DRAFT,
            )
        )
    refused = await archivist.call("POST", url, data=form)
    assert refused.status == 422 and "Biên bản chưa được chốt" in refused.text
    page = await archivist.get(url)
    assert page.text.count(">Đạt<") >= 2  # the check's result and each file's
    # Locked minutes: archived.
    async with transaction(client.app[DB]) as s:
        m = await s.scalar(select(Minutes).where(Minutes.session_id == rec.session_id))
        assert m is not None
        m.state, m.locked_at = MinutesState.LOCKED, utcnow()
    unconfirmed = await archivist.call(
        "POST", url, data={"csrf_token": archivist.csrf, "files": "all"}
    )
    assert unconfirmed.status == 422 and 'id="err-confirm"' in unconfirmed.text
    done = await archivist.call("POST", url, data=form)
    assert done.status == 303, done.text
    async with client.app[DB]() as db:
        state = await db.scalar(
            select(ReceptionSession.state).where(ReceptionSession.id == rec.session_id)
        )
        actions = list(
            await db.scalars(
                select(AuditRecord.action).where(
                    AuditRecord.action.in_(("recording.verify", "session.archive"))
                )
            )
        )
    assert state is SessionState.ARCHIVED
    assert actions == ["recording.verify", "recording.verify", "session.archive"]
    assert rec.session_id and "Đã lưu trữ" in (await archivist.get("/archive")).text
    # Only an archivist checks and archives; others may read the page.
    officer = await as_user("officer")
    assert (await officer.get(url)).status == 200
    refused = await officer.call(
        "POST", f"{url}/verify", data={"csrf_token": officer.csrf, "files": "all"}
    )
    assert refused.status == 403


async def test_a_file_changed_after_the_check_needs_a_new_one(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    rec = await ended_session(client)
    await seal(client, rec)
    archivist = await as_user("archivist")
    url = f"/sessions/{rec.session_id}/archive"
    assert (
        await archivist.call(
            "POST", f"{url}/verify", data={"csrf_token": archivist.csrf, "files": "all"}
        )
    ).status == 303
    async with transaction(client.app[DB]) as s:
        s.add(
            Minutes(
                session_id=rec.session_id,
                item_key=0,
                version=1,
                state=MinutesState.LOCKED,
                locked_at=utcnow(),
            )
        )
        from sessions.models import RecordingRecord

        row = await s.get(RecordingRecord, rec.recording_ids[1])
        assert row is not None
        row.dropped_frames = 3  # any change after the check
    refused = await archivist.call(
        "POST", url, data={"csrf_token": archivist.csrf, "confirm": "on"}
    )
    assert refused.status == 422 and "thay đổi sau lần kiểm tra" in refused.text


async def test_the_command_lines_check_is_the_sessions_integrity_status(
    client: TestClient[Any, Any], as_user: Login, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = await ended_session(client)
    await seal(client, rec)
    assert await verify_command(config, rec.session_id) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("OK")
    page = await (await as_user("archivist")).get(f"/sessions/{rec.session_id}/archive")
    assert "tiepdan recording verify" in page.text and "2 tệp khớp bảng kê" in page.text
    assert "Bản ghi chưa được kiểm tra toàn vẹn." not in page.text
