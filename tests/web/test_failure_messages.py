"""A failed export or an unreadable recording tells the user why in Vietnamese, never with a
path on the server; the detail goes to the log."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.db import transaction
from sessions.models import (
    AuditRecord,
    ExportRecord,
    ExportState,
    RecordingRecord,
    RecordingState,
)
from tests.web.conftest import Login
from tests.web.recording_kit import add_agenda
from web.config import Config
from web.exports import EXPORTS, FAILED_INTERNAL, FAILED_STORAGE
from web.keys import DB

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def _lost_track(client: TestClient[Any, Any]) -> tuple[int, int, dict[str, int]]:
    """A session whose one stored track file is gone from the store."""
    sid, ids = await add_agenda(client.app[DB], ["HS-MAU-001"])
    async with transaction(client.app[DB]) as db:
        row = RecordingRecord(
            session_id=sid,
            track_kind="video",
            track_source="camera",
            storage_key=f"sessions/{sid}/run-1/camera-lost.webm",
            sha256="0" * 64,
            size_bytes=10,
            codec="vp8",
            state=RecordingState.STORED,
            started_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
        )
        db.add(row)
        await db.flush()
        return sid, row.id, ids


def _no_server_path(text: str, config: Config) -> None:
    root = config.storage_url.removeprefix("file://")
    for leak in (root, str(config.var_dir.resolve()), "/tmp/", "No such file", "Errno"):
        assert leak not in text, (leak, text[:3000])


@SQLITE
async def test_a_failed_export_says_why_without_a_server_path(
    client: TestClient[Any, Any], as_user: Login, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    sid, _, _ = await _lost_track(client)
    officer = await as_user("officer")
    queued = await officer.post(f"/api/v1/sessions/{sid}/exports", {})
    assert queued.status == 202, queued.body
    export_id = queued.body["id"]
    with caplog.at_level(logging.WARNING, logger="tiepdan.export"):
        await client.app[EXPORTS].wait(export_id)
    seen = await officer.get(f"/api/v1/exports/{export_id}")
    assert seen.body["state"] == "failed", seen.body
    assert seen.body["error"] == FAILED_STORAGE.format(id=export_id)
    _no_server_path(seen.text, config)
    for page in (f"/sessions/{sid}",):  # a whole-session export: on the session's page
        shown = await officer.get(page)
        assert shown.status == 200, page
        data = re.search(r'id="export-data">(.*?)</script>', shown.text, re.S)
        assert data is not None, page
        [view] = [e for e in json.loads(data.group(1)) if e["id"] == export_id]
        assert view["error"] == FAILED_STORAGE.format(id=export_id), page
        _no_server_path(shown.text, config)
    async with client.app[DB]() as db:
        failed = await db.scalar(select(AuditRecord).where(AuditRecord.action == "export.failed"))
    assert failed is not None
    _no_server_path(str(failed.detail), config)
    # The detail is in the log, for whoever runs the server.
    logged = [r.getMessage() for r in caplog.records if f"export {export_id}" in r.getMessage()]
    assert any("camera-lost.webm" in m and "No such file" in m for m in logged), logged


@SQLITE
async def test_an_old_failure_text_is_not_shown_as_it_was(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    sid, _ = await add_agenda(client.app[DB], ["HS-MAU-001"])
    async with transaction(client.app[DB]) as db:
        row = ExportRecord(
            session_id=sid,
            state=ExportState.FAILED,
            error="ffmpeg failed (exit status 1): /srv/tiepdan/var/exports/export-1/in.webm",
        )
        db.add(row)
        await db.flush()
        export_id = row.id
    officer = await as_user("officer")
    seen = await officer.get(f"/api/v1/exports/{export_id}")
    assert seen.body["error"] == FAILED_INTERNAL.format(id=export_id)
    assert "/srv/" not in seen.text


@SQLITE
async def test_an_unreadable_recording_says_why_without_a_server_path(
    client: TestClient[Any, Any], as_user: Login, config: Config
) -> None:
    _, rec_id, _ = await _lost_track(client)
    officer = await as_user("officer")
    reply = await officer.get(f"/api/v1/recordings/{rec_id}/download")
    assert reply.status == 409, reply.text
    assert reply.body["error"]["message"] == "Kho lưu trữ không đọc được bản ghi."
    assert "storage_key" in reply.error_fields
    _no_server_path(reply.text, config)
