"""Checks of the recording store: the start-up check, `tiepdan recording verify`, and the
`tiepdan bench recording` entry point.

Verification re-reads every file of a session from the store against its manifests, each
manifest against the hash the database keeps, and the database's records against the
manifests, and says exactly what does not match.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recording import (
    RecordingConfig,
    RecordingError,
    Storage,
    StorageConfigError,
    open_storage,
    parse_manifest,
    verify_manifest,
)
from recording.config import setting_name
from recording.recorder import spool_tracks_dir
from sessions import archive
from sessions import recordings as recs
from sessions.audit import AuditContext
from sessions.db import create_engine, session_factory, transaction
from sessions.errors import NotFound
from sessions.models import ReceptionSession, RecordingManifest, RecordingRecord
from sessions.recordings import STORED_STATES
from web.config import Config

log = logging.getLogger("tiepdan.recording")
CLI_ACTOR = "tiepdan recording verify"  # who the audit names for a check from the CLI


async def open_checked_storage(config: RecordingConfig) -> Storage:
    """The store, checked: a malformed or unreachable one is a StorageConfigError naming
    the variable to fix."""
    storage = open_storage(config, logger=log)
    await storage.check()
    try:
        await asyncio.to_thread(spool_tracks_dir(config).mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageConfigError(setting_name("spool_dir"), f"cannot create: {exc}") from exc
    return storage


@dataclass
class Verified:
    lines: list[str] = field(default_factory=list)
    ok: bool = True
    files: int = 0

    def fail(self, line: str) -> None:
        self.lines.append(f"FAIL {line}")
        self.ok = False


async def verify_session(
    db: async_sessionmaker[AsyncSession], storage: Storage, session_id: int
) -> Verified:
    """Re-read every file of the session from the store against its manifest, each manifest
    against the hash the database keeps, and the database's records against the manifests."""
    async with db() as s:
        manifests = await recs.list_manifests(s, session_id)
        records = await recs.list_records(s, session_id)
    out = Verified()
    for m in manifests:
        await _verify_manifest(storage, m, [r for r in records if r.manifest_id == m.id], out)
    for r in records:
        if r.state not in STORED_STATES:
            out.fail(f"{r.storage_key}: not stored (state {r.state.value}, {r.failure_reason})")
        elif r.manifest_id is None:
            out.fail(f"{r.storage_key}: not listed in any manifest")
    return out


async def _verify_manifest(
    storage: Storage, m: RecordingManifest, rows: list[RecordingRecord], out: Verified
) -> None:
    try:
        data = await storage.read_bytes(m.storage_key)
    except (OSError, RecordingError) as exc:
        out.fail(f"{m.storage_key}: manifest unreadable: {exc}")
        return
    if hashlib.sha256(data).hexdigest() != m.sha256:
        out.fail(f"{m.storage_key}: manifest bytes do not hash to the recorded {m.sha256}")
    try:
        manifest = parse_manifest(data)
    except ValueError as exc:
        out.fail(f"{m.storage_key}: {exc}")
        return
    report = await verify_manifest(storage, manifest, expected_hash=m.manifest_hash)
    out.files += len(report.checked)
    for line in report.lines():
        if line.startswith("FAIL "):
            out.fail(line.removeprefix("FAIL "))
        else:
            out.lines.append(line)
    listed = {f.key: f for f in manifest.files}
    for r in rows:
        entry = listed.get(r.storage_key)
        if entry is None:
            out.fail(f"{r.storage_key}: in the database but missing from {m.storage_key}")
        elif (entry.sha256, entry.size) != (r.sha256, r.size_bytes):
            out.fail(
                f"{r.storage_key}: database has sha256 {r.sha256} ({r.size_bytes} bytes), "
                f"manifest {entry.sha256} ({entry.size} bytes)"
            )


async def verify_command(config: Config, session_id: int) -> int:
    """`tiepdan recording verify SESSION`: prints OK or exactly what does not match."""
    storage = await open_checked_storage(config.recording)
    engine = create_engine(config.database)
    try:
        factory = session_factory(engine)
        async with factory() as db:
            if await db.get(ReceptionSession, session_id) is None:
                raise NotFound(f"Không có phiên tiếp công dân #{session_id}.")
        result = await verify_session(factory, storage, session_id)
        async with transaction(factory) as db:  # the session's integrity status (archive)
            s = await db.get(ReceptionSession, session_id)
            assert s is not None
            await archive.record_check(
                db, AuditContext(None), s, result.ok, result.files, result.lines, actor=CLI_ACTOR
            )
    finally:
        await engine.dispose()
    for line in result.lines:
        print(line)
    if result.ok:
        print(f"OK phiên #{session_id}: {result.files} tệp khớp manifest và cơ sở dữ liệu")
        return 0
    print(f"FAIL phiên #{session_id}: bản ghi không khớp (xem các dòng FAIL ở trên)")
    return 1


def bench_command(json_out: bool) -> int:
    """`tiepdan bench recording`: recording/bench.py's figures, if this build has it."""
    try:
        bench = importlib.import_module("recording.bench")
    except ModuleNotFoundError:
        print("tiepdan: recording.bench is not available in this build", flush=True)
        return 2
    result = bench.run_bench(json_out)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    if isinstance(result, dict):  # the figures: an invalid run exits 1
        return 0 if result.get("valid", False) else 1
    return result if isinstance(result, int) else 1
