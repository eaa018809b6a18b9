"""`GET /api/v1/sessions/{id}/timeline`: each track placed by the wall clock of its first
frame, the floor changes with their endpoint, the agenda's chapters; and
`GET /api/v1/recordings` by session and by case."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.db import transaction
from sessions.models import Endpoint, RecordingRecord
from sessions.recordings import attach_to_cases
from tests.web.archive_kit import ended_session
from tests.web.conftest import Login
from web.keys import DB


async def test_the_time_line(client: TestClient[Any, Any], as_user: Login) -> None:
    rec = await ended_session(client, codes=("HS-MAU-001", "HS-MAU-002"))
    chair = await as_user("chair")
    reply = await chair.get(f"/api/v1/sessions/{rec.session_id}/timeline")
    assert reply.status == 200, reply.text
    tl = reply.body
    async with client.app[DB]() as db:
        central = await db.scalar(select(Endpoint).where(Endpoint.is_central.is_(True)))
    assert central is not None
    # Time 0: the first event (a join 2 s before the first frame).
    assert tl["session_id"] == rec.session_id
    assert tl["started_at"] == "2026-11-20T08:59:58+07:00"
    assert tl["duration_s"] == 132.0  # to the close, 130 s after the first frame
    assert tl["ended_at"] == "2026-11-20T09:02:10+07:00"
    assert tl["may_replay"] is True
    assert [
        (t["recording_id"], t["kind"], t["offset_s"], t["duration_s"], t["state"])
        for t in tl["tracks"]
    ] == [
        (rec.recording_ids[0], "video", 2.0, 90.0, "stored"),
        (rec.recording_ids[1], "audio", 7.0, 90.0, "stored"),
    ]
    assert all(t["endpoint_id"] == central.id for t in tl["tracks"])
    assert all(t["endpoint_name"] == central.name for t in tl["tracks"])
    assert tl["tracks"][0]["media_url"] == f"/api/v1/recordings/{rec.recording_ids[0]}/media"
    assert [(f["t_s"], f["endpoint_id"], f["endpoint_name"]) for f in tl["floor"]] == [
        (12.0, central.id, central.name),
        (72.0, central.id, central.name),
    ]
    assert [
        (c["agenda_item_id"], c["case_code"], c["start_s"], c["end_s"], c["restricted"])
        for c in tl["chapters"]
    ] == [
        (rec.agenda_item_ids[0], "HS-MAU-001", 12.0, 72.0, False),
        (rec.agenda_item_ids[1], "HS-MAU-002", 72.0, 132.0, False),
    ]
    assert tl["chapters"][0]["title"] == "Khiếu nại quyết định thu hồi đất nông nghiệp"
    # Focal staff have no replay: the route needs cases.read.
    assert (
        await (await as_user("focal1")).get(f"/api/v1/sessions/{rec.session_id}/timeline")
    ).status == 403
    assert (await chair.get("/api/v1/sessions/999999/timeline")).status == 404


async def test_recordings_by_session_and_case(client: TestClient[Any, Any], as_user: Login) -> None:
    rec = await ended_session(client, codes=("HS-MAU-001", "HS-MAU-002"))
    async with transaction(client.app[DB]) as db:
        rows = list(await db.scalars(select(RecordingRecord).order_by(RecordingRecord.id)))
        await attach_to_cases(db, rec.session_id, rows)
    officer = await as_user("officer")
    listed = await officer.get(f"/api/v1/recordings?session_id={rec.session_id}&per_page=1")
    assert listed.status == 200
    assert listed.body["total"] == 2 and len(listed.body["items"]) == 1
    item = listed.body["items"][0]
    assert item["media_url"] == f"/api/v1/recordings/{item['id']}/media" and item["may_replay"]
    by_case = await officer.get(f"/api/v1/recordings?case_id={rec.case_ids['HS-MAU-002']}")
    assert by_case.body["total"] == 2  # both tracks ran while it was heard
    assert (await officer.get("/api/v1/recordings?case_id=999999")).status == 404
    bad = await officer.get("/api/v1/recordings?session_id=abc")
    assert bad.status == 422 and "session_id" in bad.error_fields
