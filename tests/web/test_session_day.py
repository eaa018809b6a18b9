"""The day on the session page (no browser): opening from the open window, closing with a
confirmation, each endpoint's readiness, and after the session its recordings named by
endpoint, with their length, integrity, state and the crash repair flag; the case page names
each recording's endpoint too."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.db import transaction
from sessions.models import (
    AgendaItem,
    CaseFile,
    Endpoint,
    ReceptionSession,
    RecordingAttachment,
    RecordingManifest,
    RecordingRecord,
    RecordingState,
    SessionState,
)
from tests.support import FakeClock, login
from web.keys import DB

Client = TestClient[Any, Any]


async def _page(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path, allow_redirects=False)
    body = html.unescape(await resp.text())
    assert resp.status == status, f"{path}: {resp.status}\n{body[:2000]}"
    return body


async def _post(client: Client, path: str, csrf: str, **fields: str) -> tuple[int, str, str]:
    resp = await client.post(path, data={"csrf_token": csrf, **fields}, allow_redirects=False)
    return resp.status, resp.headers.get("Location", ""), html.unescape(await resp.text())


async def _state(client: Client, sid: int) -> SessionState:
    async with client.app[DB]() as db:
        s = await db.get(ReceptionSession, sid)
        assert s is not None
        state: SessionState = s.state
        return state


async def test_open_in_the_window_and_close_with_confirmation(
    client: Client, clock: FakeClock
) -> None:
    csrf = await login(client, "chair")
    page = await _page(client, "/sessions/1")
    # The seeded session starts at 08:30 on the day after tomorrow: it opens from 07:30.
    # Too early: no button yet, the page says from when (a post is refused all the same).
    assert "Phiên được mở từ 07:30 25/11/2026" in page
    assert 'action="/sessions/1/open"' not in page and "hiện ở đây khi đến giờ" in page
    assert "Sẵn sàng của các điểm cầu" in page
    assert "Điểm cầu xã Tân Phú" in page and "Chưa kiểm tra" in page

    status, _, body = await _post(client, "/sessions/1/open", csrf)
    assert status == 422, body
    assert "Chưa đến giờ mở phiên: phiên được mở từ 07:30 ngày 25/11/2026" in body
    assert await _state(client, 1) is SessionState.SCHEDULED

    clock.now = datetime(2026, 11, 25, 0, 40, tzinfo=UTC)  # 07:40 local, 50 minutes before
    csrf = await login(client, "chair")
    assert 'action="/sessions/1/open"' in await _page(client, "/sessions/1")
    status, location, body = await _post(client, "/sessions/1/open", csrf)
    assert (status, location) == (303, "/sessions/1"), body
    assert await _state(client, 1) is SessionState.LIVE
    page = await _page(client, "/sessions/1")
    assert "Vào phòng tiếp công dân trực tuyến" in page and "Kết thúc phiên" in page

    # Closing asks for the confirmation first: without it nothing changes.
    status, _, body = await _post(client, "/sessions/1/close", csrf)
    assert status == 422, body
    assert "hãy đánh dấu xác nhận kết thúc phiên" in body
    assert await _state(client, 1) is SessionState.LIVE
    status, location, body = await _post(client, "/sessions/1/close", csrf, confirm="on")
    assert (status, location) == (303, "/sessions/1"), body
    assert await _state(client, 1) is SessionState.ENDED
    page = await _page(client, "/sessions/1")
    assert "Phiên đã kết thúc" in page and "Phiên chưa có bản ghi hình nào." in page
    assert "Mở phiên" not in page and "Kết thúc phiên" not in page


async def test_focal_staff_neither_sees_nor_posts_the_controls(
    client: Client, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 25, 0, 40, tzinfo=UTC)
    csrf = await login(client, "focal1")
    page = await _page(client, "/sessions/1")
    assert 'action="/sessions/1/open"' not in page
    status, _, _ = await _post(client, "/sessions/1/open", csrf)
    assert status == 403
    assert await _state(client, 1) is SessionState.SCHEDULED


async def _recorded(client: Client) -> dict[str, int]:
    """The seeded session, ended, with three track files: a stored camera file of Tân Phú
    (in a manifest), its microphone file repaired after a crash, and a failed one."""
    async with transaction(client.app[DB]) as db:
        s = await db.get(ReceptionSession, 1)
        assert s is not None
        s.state = SessionState.ENDED
        eps = {e.name: e.id for e in await db.scalars(select(Endpoint))}
        case = await db.scalar(select(CaseFile).where(CaseFile.code == "HS-MAU-001"))
        assert case is not None
        item = AgendaItem(
            session_id=1, position=1, case_id=case.id, endpoint_id=eps["Điểm cầu xã Tân Phú"]
        )
        manifest = RecordingManifest(
            session_id=1,
            run_key="sessions/1/run",
            storage_key="sessions/1/run/manifest.json",
            manifest_hash="a" * 64,
            sha256="b" * 64,
            size_bytes=100,
            file_count=2,
        )
        db.add_all([item, manifest])
        await db.flush()
        at = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
        rows = [
            RecordingRecord(
                session_id=1,
                endpoint_id=eps["Điểm cầu xã Tân Phú"],
                track_kind="video",
                track_source="camera",
                storage_key="sessions/1/run/camera.webm",
                sha256="c" * 64,
                duration_ms=9_240,
                codec="VP8",
                state=RecordingState.STORED,
                started_at=at,
                manifest_id=manifest.id,
            ),
            RecordingRecord(
                session_id=1,
                endpoint_id=eps["Điểm cầu phường Hòa Bình"],
                track_kind="audio",
                track_source="microphone",
                storage_key="sessions/1/run/mic.webm",
                sha256="d" * 64,
                duration_ms=185_500,
                codec="opus",
                state=RecordingState.REPAIRED,
                started_at=at,
                manifest_id=manifest.id,
            ),
            RecordingRecord(
                session_id=1,
                endpoint_id=eps["Điểm cầu xã Tân Phú"],
                track_kind="audio",
                track_source="microphone",
                storage_key="sessions/1/run/lost.webm",
                codec="opus",
                state=RecordingState.FAILED,
                failure_reason="io_error",
                started_at=at,
            ),
        ]
        db.add_all(rows)
        await db.flush()
        for r in rows[:2]:
            db.add(
                RecordingAttachment(
                    case_id=case.id,
                    session_id=1,
                    recording_id=r.id,
                    agenda_item_id=item.id,
                    position=1,
                    heard_from=at,
                    heard_to=at + timedelta(seconds=9),
                    offset_ms=0,
                    length_ms=9_000,
                    sha256=r.sha256 or "",
                )
            )
        return {"case": case.id}


async def test_recordings_listed_by_endpoint_with_the_repair_flag(client: Client) -> None:
    ids = await _recorded(client)
    await login(client, "officer")
    page = await _page(client, "/sessions/1")
    table = page[page.index("Bản ghi hình của phiên") :]
    assert "3 tệp" in table
    assert "Điểm cầu xã Tân Phú" in table and "Điểm cầu phường Hòa Bình" in table
    assert "điểm cầu #" not in table
    assert "9,2 giây" in table and "3 phút 5,5 giây" in table  # decimal comma
    assert "9.2" not in table
    assert "Đã niêm phong: SHA-256 có trong bảng kê" in table
    assert table.count("đã khôi phục sau sự cố") == 1
    assert "Lỗi, chưa lưu được" in table and "Chưa có mã SHA-256" in table

    case = await _page(client, f"/cases/{ids['case']}")
    recordings = case[case.index("Bản ghi hình các buổi tiếp") :]
    assert "Điểm cầu xã Tân Phú" in recordings and "Điểm cầu phường Hòa Bình" in recordings
    assert "điểm cầu #" not in recordings
    assert recordings.count("đã khôi phục sau sự cố") == 1
