"""Recording in the running app: start-up errors naming the variable, the S3 backend through
moto, and `kill -9` of a `tiepdan serve` process while it records."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from recording.config import RecordingConfig
from recording.errors import StorageConfigError
from sessions.db import DatabaseConfig, create_engine, session_factory, transaction, upgrade
from sessions.seed import seed_demo
from tests.recording.recs3 import MotoS3, free_port
from tests.support import DEMO_PASSWORD, make_due, wait_for
from tests.web.conftest import sign_in
from tests.web.recording_kit import WsParticipant, add_agenda, probed_duration
from web.app import create_app
from web.auth import COOKIE
from web.config import Config
from web.keys import DB
from web.live import LIVE
from web.recording_checks import verify_session
from web.recordings import RECORDINGS

ROOT = Path(__file__).parents[2]
SECRET = "test-secret-" + "k" * 40


async def _seeded(url: str) -> None:
    engine = create_engine(DatabaseConfig(url=url))
    try:
        async with transaction(session_factory(engine)) as db:
            await seed_demo(db, DEMO_PASSWORD)
        await add_agenda(session_factory(engine), ["HS-MAU-001"])
        await make_due(session_factory(engine))
    finally:
        await engine.dispose()


# -- start-up errors ------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_malformed_storage_url_stops_start_up_naming_the_variable(
    aiohttp_client: Any, config: Config
) -> None:
    bad = Config(
        var_dir=config.var_dir,
        database=config.database,
        storage_url="file://relative/recordings",  # a host, not an absolute path
        secret_key=SECRET,
    )
    with pytest.raises(StorageConfigError, match="TIEPDAN_STORAGE_URL"):
        await aiohttp_client(create_app(bad))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_unreachable_s3_endpoint_stops_start_up(
    aiohttp_client: Any, config: Config, tmp_path: Path
) -> None:
    recording = RecordingConfig(
        storage_url="s3://tiepdan-rec/prefix",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        s3_access_key="test",
        s3_secret_key="test",
        s3_connect_timeout_s=0.5,
        spool_dir=tmp_path / "spool",
    )
    with pytest.raises(StorageConfigError, match="TIEPDAN_S3_ENDPOINT_URL: cannot reach"):
        await aiohttp_client(create_app(replace(config, recording=recording)))


def test_serve_exits_with_the_variable_named(tmp_path: Path) -> None:
    env = _env(tmp_path, free_port()) | {"TIEPDAN_STORAGE_URL": "ftp://archive.example/rec"}
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "TIEPDAN_STORAGE_URL" in done.stderr and "ftp" in done.stderr, done.stderr[-2000:]


# -- S3 through moto --------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_records_to_s3(
    aiohttp_client: Any, config: Config, s3_config: RecordingConfig, s3: MotoS3, bucket: str
) -> None:
    await _seeded(config.database.url)
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(replace(config, recording=s3_config))
    )
    officer, chair = await sign_in(client, "officer"), await sign_in(client, "chair")
    sid = 1
    assert (await officer.post(f"/api/v1/sessions/{sid}/open")).status == 200
    ws = await client.ws_connect(
        f"/api/v1/sessions/{sid}/bridge", headers={"Cookie": f"{COOKIE}={chair.token}"}
    )
    central = await WsParticipant.join(ws, 105)
    try:
        assert (
            await officer.post(f"/api/v1/sessions/{sid}/recording", {"active": True})
        ).status == 200
        await central.expect("recording", active=True)
        await central.media_for(40)
        # Closing the session stops the recording first.
        assert (await officer.post(f"/api/v1/sessions/{sid}/close")).status == 200
    finally:
        await central.close()
    await client.app[LIVE].events.drain()
    await client.app[RECORDINGS].settled()
    body = (await officer.get(f"/api/v1/sessions/{sid}/recordings")).body
    assert {i["state"] for i in body["items"]} == {"stored"} and len(body["items"]) == 2
    assert len(body["manifests"]) == 1
    s3c = s3.client()
    for item in body["items"]:
        head = s3c.head_object(Bucket=bucket, Key=f"tiepdan/rec/{item['storage_key']}")
        assert head["ContentLength"] == item["size_bytes"]
    result = await verify_session(client.app[DB], client.app[RECORDINGS].storage, sid)
    assert result.ok, result.lines
    events = (await officer.get(f"/api/v1/sessions/{sid}/events")).body["items"]
    stops = [e["data"] for e in events if e["kind"] == "recording" and not e["data"]["active"]]
    assert stops == [{"active": False, "reason": "session_closed"}]


# -- kill -9 while recording ----------------------------------------------------------------


def _env(root: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "TIEPDAN_HOST": "127.0.0.1",
        "TIEPDAN_PORT": str(port),
        "TIEPDAN_VAR_DIR": str(root / "var"),
        "TIEPDAN_DATABASE_URL": f"sqlite:///{root / 'app.db'}",
        "TIEPDAN_STORAGE_URL": f"file://{root / 'store'}",
        "TIEPDAN_SECRET_KEY": SECRET,
        "TIEPDAN_LOG_LEVEL": "WARNING",
    }


class Server:
    """`tiepdan serve` in its own process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        with (self.root / "serve.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "web.cli",
                "serve",
                cwd=ROOT,
                env=_env(self.root, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        async def healthy() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError((self.root / "serve.log").read_text()[-3000:])
            try:
                async with http.get(f"{self.base}/healthz") as resp:
                    return resp.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await wait_for(healthy, "tiepdan serve to answer /healthz", timeout=30)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
def server_root(tmp_path: Path) -> Iterator[Path]:
    upgrade(f"sqlite:///{tmp_path / 'app.db'}")
    yield tmp_path


@contextlib.asynccontextmanager
async def _http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


async def test_kill_9_while_recording_then_repaired_at_restart(server_root: Path) -> None:
    await _seeded(f"sqlite:///{server_root / 'app.db'}")
    server = Server(server_root)
    spool = server_root / "var" / "spool" / "recording" / "tracks"
    async with _http() as http:
        try:
            await server.start(http)
            async with http.post(
                f"{server.base}/api/v1/auth/login",
                json={"username": "chair", "password": DEMO_PASSWORD},
            ) as resp:
                csrf = (await resp.json())["csrf_token"]
            async with http.post(
                f"{server.base}/api/v1/sessions/1/open", headers={"X-CSRF-Token": csrf}
            ) as resp:
                assert resp.status == 200, await resp.text()
            ws = await http.ws_connect(f"{server.base}/api/v1/sessions/1/bridge")
            central = await WsParticipant.join(ws, 106)
            try:
                await ws.send_json({"type": "recording", "active": True})
                await central.expect("recording", active=True)
                await wait_for(
                    lambda: len(list(spool.glob("*.part"))) == 2, "two spool files being written"
                )
                await central.media_for(90)
                await server.kill()
                killed_at = time.time()
            finally:
                await central.close()
            sent = {
                s["key"]: killed_at - float(s["started_at"])
                for s in (json.loads(p.read_text()) for p in spool.glob("*.json"))
            }
            assert len(sent) == 2 and all(v > 2.5 for v in sent.values()), sent

            await server.start(http)

            async def repaired() -> bool:
                async with http.get(f"{server.base}/api/v1/sessions/1/recordings") as resp:
                    body = await resp.json()
                return len(body["items"]) == 2 and len(body["manifests"]) == 1

            await wait_for(repaired, "the repaired files' records and manifest", timeout=30)
            async with http.get(f"{server.base}/api/v1/sessions/1/recordings") as resp:
                items = (await resp.json())["items"]
        finally:
            await server.stop()
    for item in items:
        assert item["state"] == "repaired", item
        path = server_root / "store" / item["storage_key"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == item["sha256"]
        duration = probed_duration(path)
        assert abs(duration - sent[item["storage_key"]]) <= 2.0, (duration, sent, item)
        print(
            f"{item['track_kind']}: sent {sent[item['storage_key']]:.2f} s, repaired {duration:.2f} s"
        )
