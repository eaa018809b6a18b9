"""Composite export through the API: a recorded session (real aiortc publishers over the
WebSocket) is exported whole and for one case's range; ffprobe reads the stored MP4; the
download is audited; bad input gets 404/409/422; jobs a stop cut short are marked failed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions import exports as store
from sessions.models import AuditRecord, ExportRecord, ExportState, SessionEvent
from tests.support import make_due
from tests.web.conftest import Caller, Login
from tests.web.recording_kit import WsParticipant, add_agenda, ffprobe
from web.auth import COOKIE
from web.config import Config
from web.exports import EXPORTS
from web.keys import CLOCK, DB
from web.live import LIVE
from web.recordings import RECORDINGS

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def _participant(
    client: TestClient[Any, Any], who: Caller, session_id: int, seed: int
) -> WsParticipant:
    ws = await client.ws_connect(
        f"/api/v1/sessions/{session_id}/bridge", headers={"Cookie": f"{COOKIE}={who.token}"}
    )
    return await WsParticipant.join(ws, seed)


async def _settled(client: TestClient[Any, Any]) -> None:
    for _ in range(2):  # a stop the service told the room about comes back as an event
        await client.app[LIVE].events.drain()
        await client.app[RECORDINGS].settled()


def _stored(config: Config, key: str) -> Path:
    return Path(config.storage_url.removeprefix("file://")) / key


def _streams(path: Path) -> dict[str, float]:
    info = ffprobe(path)
    return {s["codec_type"]: float(s.get("duration", 0)) for s in info["streams"]}


@SQLITE
async def test_export_session_and_case_range(
    client: TestClient[Any, Any], as_user: Login, config: Config
) -> None:
    sid, ids = await add_agenda(client.app[DB], ["HS-MAU-001", "HS-MAU-002"])
    officer, chair, focal = (
        await as_user("officer"),
        await as_user("chair"),
        await as_user("focal1"),
    )
    nothing = await officer.post(f"/api/v1/sessions/{sid}/exports", {})
    assert nothing.status == 409, nothing.body
    await make_due(client.app[DB], client.app[CLOCK]())
    assert (await officer.post(f"/api/v1/sessions/{sid}/open")).status == 200
    central = await _participant(client, chair, sid, 111)
    commune = await _participant(client, focal, sid, 112)
    try:
        await central.ws.send_json({"type": "agenda", "action": "next"})
        await central.expect("agenda")
        await central.ws.send_json({"type": "recording", "active": True})
        await central.expect("recording", active=True)
        await central.media_for(45)
        await central.ws.send_json({"type": "agenda", "action": "next"})
        await central.media_for(45)
        await central.ws.send_json({"type": "recording", "active": False})
        await central.expect("recording", active=False)
        await _settled(client)
    finally:
        await central.close()
        await commune.close()

    whole = await officer.post(f"/api/v1/sessions/{sid}/exports", {})
    assert whole.status == 202, whole.body
    assert whole.body["state"] == "queued"
    case = await officer.post(f"/api/v1/sessions/{sid}/exports", {"case_id": ids["HS-MAU-001"]})
    assert case.status == 202, case.body
    for job in (whole.body, case.body):
        await client.app[EXPORTS].wait(job["id"])
    done = (await officer.get(f"/api/v1/exports/{whole.body['id']}")).body
    part = (await officer.get(f"/api/v1/exports/{case.body['id']}")).body
    assert done["state"] == "done" and done["progress"] == 1.0, done
    assert part["state"] == "done" and part["range_from"] < part["range_to"], part

    path = _stored(config, done["storage_key"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == done["sha256"]
    assert path.stat().st_size == done["size_bytes"]
    streams = _streams(path)
    assert set(streams) == {"video", "audio"}
    assert streams["video"] > 2.0 and abs(streams["video"] - streams["audio"]) < 0.3, streams
    heard = (
        datetime.fromisoformat(part["range_to"]) - datetime.fromisoformat(part["range_from"])
    ).total_seconds()
    assert abs(_streams(_stored(config, part["storage_key"]))["video"] - heard) < 0.3
    assert heard < done["duration_ms"] / 1000

    client.session.cookie_jar.clear()
    async with client.get(
        f"/api/v1/exports/{done['id']}/download", headers={"Cookie": f"{COOKIE}={officer.token}"}
    ) as resp:
        assert resp.status == 200 and resp.headers["X-Content-SHA256"] == done["sha256"]
        assert hashlib.sha256(await resp.read()).hexdigest() == done["sha256"]
    async with client.app[DB]() as db:
        actions = list(
            await db.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.object_type == "export")
                .order_by(AuditRecord.id)
            )
        )
    assert actions.count("export.request") == 2 and actions.count("export.done") == 2
    assert actions[-1] == "export.download"

    # The pages show the section, the button and the finished export's hash.
    page = await officer.get(f"/cases/{ids['HS-MAU-001']}")
    assert "Xuất video tổng hợp" in page.text and part["sha256"] in page.text
    assert "Xuất video tổng hợp" in (await officer.get(f"/sessions/{sid}")).text


@SQLITE
async def test_export_bad_input(client: TestClient[Any, Any], as_user: Login) -> None:
    sid, ids = await add_agenda(client.app[DB], ["HS-MAU-001"])
    officer = await as_user("officer")
    assert (await officer.post("/api/v1/sessions/999999/exports", {})).status == 404
    assert (await officer.get("/api/v1/exports/999999")).status == 404
    assert (await officer.get("/api/v1/exports/999999/download")).status == 404
    unknown_case = await officer.post(f"/api/v1/sessions/{sid}/exports", {"case_id": 999999})
    assert unknown_case.status == 404, unknown_case.body
    off_agenda = await officer.post(
        f"/api/v1/sessions/{sid}/exports", {"case_id": ids["HS-MAU-002"]}
    )
    assert off_agenda.status == 422, off_agenda.body
    assert "case_id" in off_agenda.error_fields
    bad = await officer.post(f"/api/v1/sessions/{sid}/exports", {"case_id": "một"})
    assert bad.status == 422 and "case_id" in bad.error_fields
    no_recordings = await officer.post(
        f"/api/v1/sessions/{sid}/exports", {"case_id": ids["HS-MAU-001"]}
    )
    assert no_recordings.status == 409, no_recordings.body
    async with client.app[DB]() as db:
        assert list(await db.scalars(select(ExportRecord))) == []


@SQLITE
async def test_jobs_cut_by_a_stop_are_marked_failed(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    sid, _ = await add_agenda(client.app[DB], ["HS-MAU-001"])
    async with client.app[DB]() as db:
        for state in (ExportState.RUNNING, ExportState.QUEUED, ExportState.DONE):
            db.add(ExportRecord(session_id=sid, state=state))
        await db.commit()
        marked = await store.mark_interrupted(db)
        await db.commit()
        rows = {r.id: r for r in await db.scalars(select(ExportRecord))}
    assert len(marked) == 2
    assert all(rows[i].state is ExportState.FAILED for i in marked)
    assert all(rows[i].error == store.INTERRUPTED for i in marked)
    officer = await as_user("officer")
    seen = (await officer.get(f"/api/v1/exports/{marked[0]}")).body
    assert seen["state"] == "failed" and seen["error"] == store.INTERRUPTED


def test_floor_changes_map_participants_to_endpoints() -> None:
    t0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

    def ev(s: int, kind: str, pid: str, endpoint: int | None = None) -> SessionEvent:
        return SessionEvent(
            at=t0 + timedelta(seconds=s), kind=kind, participant_id=pid, endpoint_id=endpoint
        )

    events = [
        ev(0, "join", "a1", 10),
        ev(1, "join", "a2", 20),
        ev(2, "join", "a3", 30),
        ev(5, "floor", "a3"),
        ev(9, "floor", ""),
        ev(12, "floor", "a2"),
    ]
    assert store.floor_changes(events) == [
        store.Floor(t0 + timedelta(seconds=5), 30),
        store.Floor(t0 + timedelta(seconds=9), None),
        store.Floor(t0 + timedelta(seconds=12), 20),
    ]
