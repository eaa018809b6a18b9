"""Recording wired into the app, end to end but the browser: real aiortc publishers join a
live session over the WebSocket, the chair and the API start and stop recording, and what is
stored is checked with ffprobe, the manifest, `tiepdan recording verify` and the case files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

import recording.recorder
from sessions.models import AuditRecord, RecordingRecord, RecordingState
from tests.conftest import seed
from tests.recording.recmedia import FillingFile
from tests.support import make_due, wait_for
from tests.web.conftest import Caller, Login, count_rows, sign_in
from tests.web.recording_kit import (
    WsParticipant,
    add_agenda,
    flip_byte,
    probed_duration,
)
from web.app import create_app
from web.auth import COOKIE
from web.config import Config
from web.keys import CLOCK, DB
from web.live import LIVE
from web.recordings import RECORDINGS

ROOT = Path(__file__).parents[2]


async def _participant(
    client: TestClient[Any, Any], who: Caller, session_id: int, seed: int
) -> WsParticipant:
    ws = await client.ws_connect(
        f"/api/v1/sessions/{session_id}/bridge", headers={"Cookie": f"{COOKIE}={who.token}"}
    )
    return await WsParticipant.join(ws, seed)


async def _download(client: TestClient[Any, Any], who: Caller, rid: int) -> tuple[int, bytes]:
    client.session.cookie_jar.clear()
    async with client.get(
        f"/api/v1/recordings/{rid}/download", headers={"Cookie": f"{COOKIE}={who.token}"}
    ) as resp:
        return resp.status, await resp.read()


async def _settled(client: TestClient[Any, Any]) -> None:
    await client.app[LIVE].events.drain()
    await client.app[RECORDINGS].settled()
    await client.app[LIVE].events.drain()  # a stop the service told the room about
    await client.app[RECORDINGS].settled()


def _verify(config: Config, session_id: int) -> subprocess.CompletedProcess[str]:
    """`tiepdan recording verify SESSION` in its own process, as an operator runs it."""
    env = {
        **os.environ,
        "TIEPDAN_DATABASE_URL": config.database.url,
        "TIEPDAN_STORAGE_URL": config.storage_url,
        "TIEPDAN_VAR_DIR": str(config.var_dir),
        "TIEPDAN_LOG_LEVEL": "ERROR",
    }
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "recording", "verify", str(session_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _store_path(config: Config, key: str) -> Path:
    return Path(config.storage_url.removeprefix("file://")) / key


async def test_record_stop_verify_and_attach_to_cases(
    client: TestClient[Any, Any], as_user: Login, config: Config
) -> None:
    sid, case_ids = await add_agenda(client.app[DB], ["HS-MAU-001", "HS-MAU-003"])
    officer, chair, focal = (
        await as_user("officer"),
        await as_user("chair"),
        await as_user("focal1"),
    )
    await make_due(client.app[DB], client.app[CLOCK]())
    assert (await officer.post(f"/api/v1/sessions/{sid}/open")).status == 200
    central = await _participant(client, chair, sid, 101)
    commune = await _participant(client, focal, sid, 102)
    try:
        await central.ws.send_json({"type": "agenda", "action": "next"})
        await central.expect("agenda")
        reply = await officer.post(f"/api/v1/sessions/{sid}/recording", {"active": True})
        assert reply.status == 200, reply.body
        await central.expect("recording", active=True)
        await commune.expect("recording", active=True)
        await central.media_for(45)
        await commune.media_for(10)
        await central.ws.send_json({"type": "agenda", "action": "next"})  # the denunciation
        await central.media_for(45)
        stop_at = datetime.now().timestamp()
        await central.ws.send_json({"type": "recording", "active": False})
        await central.expect("recording", active=False)
        await _settled(client)
    finally:
        await central.close()
        await commune.close()

    body = (await officer.get(f"/api/v1/sessions/{sid}/recordings")).body
    items, manifests = body["items"], body["manifests"]
    assert len(items) == 4, items  # camera and microphone of two endpoints
    assert {i["state"] for i in items} == {"stored"}
    assert {(i["track_kind"], i["track_source"]) for i in items} == {
        ("video", "camera"),
        ("audio", "microphone"),
    }
    assert len(manifests) == 1 and manifests[0]["file_count"] == 4
    assert body["restricted"] is True and body["may_replay"] is True

    # ffprobe reads every file; durations are what was recorded.
    for item in items:
        path = _store_path(config, item["storage_key"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == item["sha256"]
        probed = probed_duration(path)
        started = datetime.fromisoformat(item["started_at"]).timestamp()
        assert abs(probed - item["duration_ms"] / 1000) < 0.3, item
        assert abs(probed - (stop_at - started)) < 1.0, (probed, stop_at - started, item)

    # The manifest is in the store, and its hash in the database.
    manifest = _store_path(config, manifests[0]["storage_key"]).read_bytes()
    assert hashlib.sha256(manifest).hexdigest() == manifests[0]["sha256"]
    assert manifests[0]["manifest_hash"] in manifest.decode()

    ok = _verify(config, sid)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("OK")

    # Each case gets the files with the range it was heard in, and the file's hash.
    first = (await officer.get(f"/api/v1/cases/{case_ids['HS-MAU-001']}/recordings")).body
    second = (await officer.get(f"/api/v1/cases/{case_ids['HS-MAU-003']}/recordings")).body
    assert len(first["items"]) == 4 and len(second["items"]) == 4
    for a, b in zip(first["items"], second["items"], strict=False):
        assert a["sha256"] == a["recording"]["sha256"]
        assert a["heard_from"] < a["heard_to"] <= b["heard_from"] < b["heard_to"]
    assert {a["recording"]["id"] for a in first["items"]} == {i["id"] for i in items}
    page = await officer.get(f"/cases/{case_ids['HS-MAU-001']}")
    assert page.status == 200 and items[0]["sha256"] in page.text

    # A flipped byte in a stored file: verify fails and names it.
    victim = next(i for i in items if i["track_kind"] == "video")
    flip_byte(_store_path(config, victim["storage_key"]))
    bad = _verify(config, sid)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    failing = [line for line in bad.stdout.splitlines() if line.startswith("FAIL")]
    assert any(victim["storage_key"] in line and "hash" in line for line in failing), bad.stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_download_restricted_for_denunciation_and_audited(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    sid, _ = await add_agenda(client.app[DB], ["HS-MAU-003"])
    officer, chair, archivist = (
        await as_user("officer"),
        await as_user("chair"),
        await as_user("archivist"),
    )
    await make_due(client.app[DB], client.app[CLOCK]())
    assert (await officer.post(f"/api/v1/sessions/{sid}/open")).status == 200
    central = await _participant(client, chair, sid, 103)
    try:
        await central.ws.send_json({"type": "recording", "active": True})
        await central.expect("recording", active=True)
        await central.media_for(30)
        stop = await chair.post(f"/api/v1/sessions/{sid}/recording", {"active": False})
        assert stop.status == 200 and stop.body == {"session_id": sid, "active": False}
        await central.expect("recording", active=False)
        await _settled(client)
    finally:
        await central.close()
    items = (await officer.get(f"/api/v1/sessions/{sid}/recordings")).body["items"]
    rid = items[0]["id"]

    denied = await archivist.get(f"/api/v1/recordings/{rid}/download")
    assert denied.status == 403, denied.body
    assert denied.error_fields == {"recording": "bản ghi có thông tin người tố cáo được bảo mật"}
    status, data = await _download(client, officer, rid)
    assert status == 200 and hashlib.sha256(data).hexdigest() == items[0]["sha256"]
    async with client.app[DB]() as db:
        rows = list(
            await db.scalars(
                select(AuditRecord)
                .where(AuditRecord.object_type == "recording")
                .order_by(AuditRecord.id)
            )
        )
    access = [
        (r.action, r.actor_username) for r in rows if r.action.startswith("recording.download")
    ]
    assert access == [("recording.download.denied", "archivist"), ("recording.download", "officer")]
    listed = (await archivist.get(f"/api/v1/sessions/{sid}/recordings")).body
    assert listed["restricted"] is True and listed["may_replay"] is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_recording_request_for_a_session_not_live_is_409_and_writes_nothing(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    sid, _ = await add_agenda(client.app[DB], ["HS-MAU-001"])
    officer = await as_user("officer")
    before = await count_rows(client)
    reply = await officer.post(f"/api/v1/sessions/{sid}/recording", {"active": True})
    assert reply.status == 409, reply.body
    assert reply.error_fields == {"state": "scheduled"}
    bad = await officer.post(f"/api/v1/sessions/{sid}/recording", {"active": "yes"})
    assert bad.status == 422 and "active" in bad.error_fields
    assert await count_rows(client) == before
    assert not client.app[RECORDINGS].active(sid)
    spool = client.app[RECORDINGS].config.spool_dir / "tracks"
    assert not any(spool.iterdir())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_disk_full_stops_recording_cleanly_and_tells_the_chair(
    client: TestClient[Any, Any], as_user: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    class TinySpool(recording.recorder.TrackRecorder):
        """The video spool file fills the disk after ~200 kB (about a second); audio has room."""

        def __init__(self, track: Any, *args: Any, **kwargs: Any) -> None:
            if track.kind == "video":
                kwargs["open_file"] = lambda path: FillingFile(path, 200_000)
            super().__init__(track, *args, **kwargs)

    monkeypatch.setattr(recording.recorder, "TrackRecorder", TinySpool)
    sid, _ = await add_agenda(client.app[DB], ["HS-MAU-001"])
    officer, chair = await as_user("officer"), await as_user("chair")
    await make_due(client.app[DB], client.app[CLOCK]())
    assert (await officer.post(f"/api/v1/sessions/{sid}/open")).status == 200
    central = await _participant(client, chair, sid, 104)
    try:
        await central.ws.send_json({"type": "recording", "active": True})
        await central.expect("recording", active=True)
        stopped = await central.expect("recording", active=False, timeout=30)
        assert stopped["reason"] == "disk_full"
        await _settled(client)
    finally:
        await central.close()
    async with client.app[DB]() as db:
        rows = {r.track_kind: r for r in await db.scalars(select(RecordingRecord))}
    video, audio = rows["video"], rows["audio"]
    # What was written is kept: the cut video file repaired and stored, the audio whole.
    assert video.state is RecordingState.REPAIRED and video.failure_reason == "disk_full"
    assert audio.state is RecordingState.STORED and audio.failure_reason is None
    assert (video.duration_ms or 0) > 500
    path = Path(client.app[RECORDINGS].config.storage_url.removeprefix("file://"))
    assert probed_duration(path / video.storage_key) > 0.3
    assert not client.app[RECORDINGS].active(sid)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_autostart_records_from_open_to_close(aiohttp_client: Any, config: Config) -> None:
    await seed(config.database.url)
    app = create_app(replace(config, recording_autostart=True))
    auto: TestClient[Any, Any] = await aiohttp_client(app)
    officer = await sign_in(auto, "officer")
    sid = (await officer.get("/api/v1/sessions")).body["items"][0]["id"]
    await make_due(auto.app[DB])
    assert (await officer.post(f"/api/v1/sessions/{sid}/open")).status == 200
    await auto.app[LIVE].events.drain()
    await wait_for(lambda: auto.app[RECORDINGS].active(sid), "recording started with the session")
    assert (await officer.post(f"/api/v1/sessions/{sid}/close")).status == 200
    assert not auto.app[RECORDINGS].active(sid)
    events = (await officer.get(f"/api/v1/sessions/{sid}/events")).body["items"]
    marks = [(e["kind"], e["data"].get("active")) for e in events if e["kind"] != "join"]
    # The close is stored with the session's change of state; the recorder stops before the
    # room closes, with the reason.
    assert marks == [("open", None), ("recording", True), ("close", None), ("recording", False)]
    assert events[-1]["data"] == {"active": False, "reason": "session_closed"}
