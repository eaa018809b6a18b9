"""Helpers for the archive and replay tests: an ended demo session with stored track files
(bytes put in the app's own store, records as the recorder writes them), its events, and
accounts of another unit."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.accounts import hash_password
from sessions.db import transaction
from sessions.models import (
    Account,
    AccountRole,
    AgendaCitizen,
    AgendaItem,
    CaseFile,
    CaseParty,
    Endpoint,
    ReceptionSession,
    RecordingRecord,
    RecordingState,
    Role,
    SessionEvent,
    SessionState,
    Unit,
)
from sessions.text import search_key
from tests.support import DEMO_PASSWORD
from web.keys import DB
from web.recordings import RECORDINGS

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # the first frame of the first track


@dataclass
class Recorded:
    session_id: int
    recording_ids: list[int]
    data: list[bytes]
    agenda_item_ids: list[int]
    case_ids: dict[str, int]


async def store_track(client: TestClient[Any, Any], key: str, data: bytes) -> None:
    storage = client.app[RECORDINGS].storage
    await storage.store_bytes(data, key)


async def ended_session(
    client: TestClient[Any, Any],
    codes: tuple[str, ...] = ("HS-MAU-001",),
    sizes: tuple[int, ...] = (300_000, 120_000),
    state: SessionState = SessionState.ENDED,
    heard: dict[str, str] | None = None,
) -> Recorded:
    """The demo session, ended, with `codes` on its agenda (heard in order: an agenda move
    each, floor to the central endpoint), and one stored track per size: the first starts at
    T0, each next one 5 s later. `heard`: case code -> a citizen's name heard for it."""
    db = client.app[DB]
    async with transaction(db) as s:
        session = await s.scalar(select(ReceptionSession).order_by(ReceptionSession.id))
        assert session is not None
        session.state = state
        session.starts_at, session.ends_at = T0, T0 + timedelta(hours=2)
        cases = {c.code: c for c in await s.scalars(select(CaseFile))}
        items = []
        for position, code in enumerate(codes, 1):
            item = AgendaItem(
                session_id=session.id,
                position=position,
                case_id=cases[code].id,
                endpoint_id=session.central_endpoint_id,
                citizens=[],
            )
            if heard and code in heard:
                parties = await s.scalars(
                    select(CaseParty.citizen_id).where(CaseParty.case_id == cases[code].id)
                )
                item.citizens = [AgendaCitizen(citizen_id=c) for c in parties]
            s.add(item)
            items.append(item)
        await s.flush()
        sid, central = session.id, session.central_endpoint_id
        s.add(
            SessionEvent(
                session_id=sid,
                at=T0 - timedelta(seconds=2),
                kind="join",
                participant_id="acct-2",
                account_id=None,
                endpoint_id=central,
                data={},
            )
        )
        for i, item in enumerate(items):
            at = T0 + timedelta(seconds=10 + 60 * i)
            s.add(
                SessionEvent(
                    session_id=sid,
                    at=at,
                    kind="agenda",
                    participant_id="acct-2",
                    data={
                        "moved": True,
                        "item_id": item.id,
                        "case_id": item.case_id,
                        "position": item.position,
                    },
                )
            )
            s.add(SessionEvent(session_id=sid, at=at, kind="floor", participant_id="acct-2"))
        s.add(
            SessionEvent(
                session_id=sid,
                at=T0 + timedelta(seconds=10 + 60 * len(items)),
                kind="close",
                data={},
            )
        )
        item_ids = [i.id for i in items]
        case_ids = {c: cases[c].id for c in codes}
    ids, blobs = [], []
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        key = f"sessions/{sid}/20261120T020000000000Z/track-{i}.webm"
        await store_track(client, key, data)
        async with transaction(db) as s:
            row = RecordingRecord(
                session_id=sid,
                endpoint_id=central,
                track_kind="video" if i % 2 == 0 else "audio",
                track_source="camera" if i % 2 == 0 else "microphone",
                storage_key=key,
                size_bytes=size,
                sha256=hashlib.sha256(data).hexdigest(),
                duration_ms=90_000,
                codec="vp8" if i % 2 == 0 else "opus",
                state=RecordingState.STORED,
                started_at=T0 + timedelta(seconds=5 * i),
                run_key=f"sessions/{sid}/20261120T020000000000Z",
                track_id=f"t{i}",
                participant_id="acct-2",
            )
            s.add(row)
            await s.flush()
            ids.append(row.id)
        blobs.append(data)
    return Recorded(sid, ids, blobs, item_ids, case_ids)


async def other_unit_account(
    client: TestClient[Any, Any], username: str, role: Role, unit_code: str = "X-TP"
) -> None:
    """An account of a commune (it sees that commune only, not the province's sessions)."""
    async with transaction(client.app[DB]) as s:
        unit = await s.scalar(select(Unit).where(Unit.code == unit_code))
        assert unit is not None
        s.add(
            Account(
                username=username,
                full_name=f"Cán bộ {username}",
                name_key=search_key(f"Cán bộ {username}"),
                title="",
                unit_id=unit.id,
                password_hash=hash_password(DEMO_PASSWORD),
                roles=[AccountRole(role=role)],
            )
        )


async def central_endpoint(client: TestClient[Any, Any]) -> int:
    async with client.app[DB]() as s:
        found = await s.scalar(select(Endpoint.id).where(Endpoint.is_central.is_(True)))
    assert found is not None
    return int(found)


async def seal(client: TestClient[Any, Any], rec: Recorded) -> None:
    """List the session's stored files in a manifest, as the recording service does after a
    run, so that `tiepdan recording verify` finds everything in order."""
    from recording import build_manifest, store_manifest
    from recording.service import manifest_entry
    from sessions import recordings as recs

    db = client.app[DB]
    async with db() as s:
        rows = await recs.list_records(s, rec.session_id)
    run_key = rows[0].run_key
    assert run_key is not None
    manifest = build_manifest(f"session-{rec.session_id}", [manifest_entry(r) for r in rows], [])
    key = f"{run_key}/manifest-1.json"
    stored = await store_manifest(client.app[RECORDINGS].storage, manifest, key)
    async with transaction(db) as s:
        rows = await recs.list_records(s, rec.session_id)
        await recs.add_manifest(
            s,
            rec.session_id,
            run_key,
            key,
            manifest.manifest_hash,
            stored.sha256,
            stored.size,
            rows,
        )
