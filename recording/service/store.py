"""Storing what was recorded: each finished track file into the store, its record, the
run's hash-chained manifest, and the attachment of the files to the cases heard.

`RunStore` is the recording service's store worker (one job at a time, off the signaling
path, `control.RecordingService`), and is also used on its own where tracks are written
without a live room: the sample archive (`tiepdan seed-demo --sample-archive`) and the replay
benchmark."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import av.error
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recording import (
    AgendaCase,
    ManifestFile,
    RecordedFile,
    RecordingError,
    Storage,
    build_manifest,
    store_manifest,
    store_recording,
)
from recording.manifest import iso_utc
from recording.recovery import RecoveryReport, repair_partial
from sessions import audit
from sessions import recordings as recs
from sessions.accounts import principal_for
from sessions.audit import AuditContext
from sessions.db import transaction
from sessions.models import Account, CaseFile, ReceptionSession, RecordingRecord, RecordingState
from sessions.recordings import Heard, TrackFile

log = logging.getLogger("tiepdan.recording")
_RUN_KEY = re.compile(r"^(sessions/([0-9]+)/[^/]+)/[^/]+$")
FAILURES = frozenset({"disk_full", "io_error"})
_ACTION = {
    RecordingState.STORED: "recording.stored",
    RecordingState.REPAIRED: "recording.repaired",
    RecordingState.FAILED: "recording.failed",
}


def run_of(key: str) -> tuple[int, str] | None:
    """(session id, run key) of a track file's storage key `sessions/{id}/{stamp}/{name}`."""
    match = _RUN_KEY.match(key)
    return None if match is None else (int(match.group(2)), match.group(1))


def track_file(
    rec: RecordedFile, run_key: str, state: RecordingState, reason: str | None
) -> TrackFile:
    t = rec.track
    return TrackFile(
        storage_key=rec.key,
        run_key=run_key,
        track_id=t.track_id,
        participant_id=t.participant_id,
        endpoint_id=t.endpoint_id,
        kind=t.kind,
        source=t.source,
        codec=t.codec,
        size=rec.size,
        sha256=rec.sha256,
        duration_ms=round(rec.duration_s * 1000),
        started_at=datetime.fromtimestamp(rec.started_at, UTC),
        state=state,
        dropped=rec.dropped,
        failure_reason=reason,
    )


def manifest_entry(row: RecordingRecord) -> ManifestFile:
    assert row.sha256 is not None and row.size_bytes is not None
    return ManifestFile(
        key=row.storage_key,
        sha256=row.sha256,
        size=row.size_bytes,
        duration_ms=row.duration_ms or 0,
        codec=row.codec,
        track_id=row.track_id or "",
        kind=row.track_kind,
        source=row.track_source,
        participant_id=row.participant_id or "",
        endpoint_id=row.endpoint_id,
        started_at=iso_utc(row.started_at.timestamp()),
    )


def agenda_case(case: CaseFile, heard: Heard | None) -> AgendaCase:
    start = None if heard is None else heard.start.timestamp()
    end = None if heard is None or heard.end is None else heard.end.timestamp()
    return AgendaCase(str(case.id), f"{case.code} · {case.title}", start, end)


class RunStore:
    """Stores finished runs and the spool's recovered files, with their records and audit."""

    def __init__(
        self,
        storage: Storage,
        db: async_sessionmaker[AsyncSession],
        logger: logging.Logger | None = None,
    ) -> None:
        self.storage = storage
        self.log = logger or log
        self._db = db

    async def store_run(self, session_id: int, run_key: str, files: Iterable[RecordedFile]) -> None:
        """Store a run's finished files, keep their records, write the run's manifest and
        attach the files to the cases heard while they were recorded."""
        saved = [await self.store_one(rec, run_key) for rec in files]
        await self.persist(session_id, saved)
        await self.write_manifest(session_id, run_key)

    async def store_one(self, rec: RecordedFile, run_key: str) -> TrackFile:
        reason = rec.status if rec.status in FAILURES else None
        if not rec.finalized:  # cut by a write error: remux what reached the disk
            try:
                rec = await asyncio.to_thread(repair_partial, rec.path)
            except (OSError, ValueError, RecordingError, av.error.FFmpegError) as exc:
                self.log.error("%s kept in the spool, not repaired: %s", rec.path, exc)
                return track_file(rec, run_key, RecordingState.FAILED, reason)
        try:
            await store_recording(self.storage, rec)
        except (OSError, RecordingError) as exc:
            self.log.error("%s not stored (kept in the spool): %s", rec.key, exc)
            return track_file(rec, run_key, RecordingState.FAILED, reason or "not_stored")
        state = RecordingState.REPAIRED if rec.status == "recovered" else RecordingState.STORED
        return track_file(rec, run_key, state, reason)

    async def persist(self, session_id: int, files: Iterable[TrackFile]) -> None:
        async with transaction(self._db) as db:
            if await db.get(ReceptionSession, session_id) is None:
                self.log.error("session %d is not in the database; records not kept", session_id)
                return
            for f in files:
                row = await recs.save_file(db, session_id, f)
                await self.audit_in(
                    db,
                    session_id,
                    None,
                    _ACTION.get(row.state, "recording.changed"),
                    "recording",
                    row.id,
                    key=row.storage_key,
                    sha256=row.sha256,
                    size=row.size_bytes,
                    duration_ms=row.duration_ms,
                    reason=row.failure_reason,
                )

    async def write_manifest(self, session_id: int, run_key: str) -> None:
        """List the run's stored files (those no manifest lists yet) in a new manifest, keep
        its hash, and attach the files to the cases heard while they were recorded."""
        async with self._db() as db:
            rows = await recs.unlisted(db, run_key)
            agenda = await recs.agenda_cases(db, session_id)
        if not rows:
            return
        manifest = build_manifest(
            f"session-{session_id}",
            [manifest_entry(r) for r in rows],
            [agenda_case(c, h) for c, h in agenda],
        )
        key = f"{run_key}/manifest-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.json"
        stored = await store_manifest(self.storage, manifest, key)
        async with transaction(self._db) as db:
            rows = list(
                await db.scalars(
                    select(RecordingRecord).where(RecordingRecord.id.in_([r.id for r in rows]))
                )
            )
            row = await recs.add_manifest(
                db,
                session_id,
                run_key,
                key,
                manifest.manifest_hash,
                stored.sha256,
                stored.size,
                rows,
            )
            attached = await recs.attach_to_cases(db, session_id, rows)
            await self.audit_in(
                db,
                session_id,
                None,
                "recording.manifest",
                "recording_manifest",
                row.id,
                key=key,
                manifest_hash=row.manifest_hash,
                files=len(rows),
                attached_cases=sorted({a.case_id for a in attached}),
            )

    async def recover(self, report: RecoveryReport) -> None:
        """Store what the spool scan at start repaired or found finished, keep its records,
        resume other journaled uploads, and write the manifests a crash left unwritten."""
        runs: dict[tuple[int, str], list[TrackFile]] = {}
        for rec in [*report.recovered, *report.pending]:
            where = run_of(rec.key)
            if where is None:
                self.log.warning("spool file %s is not a session's recording: left", rec.path)
                continue
            runs.setdefault(where, []).append(await self.store_one(rec, where[1]))
        handled = frozenset(rec.key for rec in [*report.recovered, *report.pending])
        others = await self.storage.resume_pending(skip=handled)
        for failed, why in others.failed.items():
            self.log.error("pending upload %s not finished: %s", failed, why)
        for (session_id, _), files in runs.items():
            await self.persist(session_id, files)
        async with self._db() as db:
            unlisted = await recs.unlisted_runs(db)
        for session_id, run_key in unlisted:
            await self.write_manifest(session_id, run_key)

    async def audit(
        self,
        session_id: int,
        account_id: int | None,
        action: str,
        object_type: str,
        object_id: object,
        **detail: Any,
    ) -> None:
        async with transaction(self._db) as db:
            await self.audit_in(
                db, session_id, account_id, action, object_type, object_id, **detail
            )

    async def audit_in(
        self,
        db: AsyncSession,
        session_id: int,
        account_id: int | None,
        action: str,
        object_type: str,
        object_id: object,
        **detail: Any,
    ) -> None:
        session = await db.get(ReceptionSession, session_id)
        account = await db.get(Account, account_id) if account_id is not None else None
        who = await principal_for(db, account) if account is not None else None
        await audit.record(
            db,
            AuditContext(who),
            action,
            object_type,
            object_id,
            session.unit_id if session is not None else None,
            {"session_id": session_id, **detail},
            actor_username=None if who is not None else "system",
        )
