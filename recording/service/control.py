"""The recording service: the recorder of each live session, and the storing of what it
recorded.

The live path tells the service (its `RecordingControl` methods, never blocking) when a
room's recording flag changes, when a session opens and when it closes. The service has two
owned tasks: the control loop starts and stops a `SessionRecorder` per session (one owner, in
order), and the store worker hands the finished files to the `RunStore` (upload, records,
the run's manifest, the attachment to the cases heard): off the signaling path, one job at a
time. At start, partial files a crash left behind, repaired by `recover_spool` before
anything records, are stored by the worker's first job.

It reaches a session's room only through `SessionRooms`, which `web/` implements over the
bridge; what it uses of a room is the bridge's `RoomTap`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge import BridgeError, RoomTap, TrackInfo
from recording.config import RecordingConfig
from recording.recorder import (
    RecordedFile,
    RecordingFailure,
    SessionRecorder,
    TrackRecorderStats,
)
from recording.recovery import RecoveryReport
from recording.service.store import RunStore
from recording.storage import Storage

log = logging.getLogger("tiepdan.recording")


class SessionRooms(Protocol):
    """The rooms of live sessions, as the service needs them (`web/` implements it)."""

    def room(self, session_id: int) -> RoomTap | None:
        """The session's room if it is open."""
        ...

    def open_room(self, session_id: int) -> RoomTap:
        """The session's room, opened if need be."""
        ...

    def participant_id(self, account_id: int) -> str:
        """Who an account is in a session's room (who turned the recording on)."""
        ...


def _ask_keyframe(room: RoomTap, track: TrackInfo) -> None:
    """A recorder fell behind (or began mid-stream) on a video track: its publisher is asked
    for a key frame, so the recording goes on with a picture a decoder can use."""
    room.request_keyframe(track.track_id)


@dataclass
class Run:
    """One session being recorded, from start to stop."""

    session_id: int
    run_key: str
    recorder: SessionRecorder
    room: RoomTap


@dataclass(frozen=True, slots=True)
class Start:
    session_id: int
    account_id: int | None


@dataclass(frozen=True, slots=True)
class Stop:
    session_id: int
    reason: str | None
    account_id: int | None
    tell_room: bool = False  # also turn the room's flag off (and so tell every participant)


@dataclass(frozen=True, slots=True)
class AutoStart:
    session_id: int
    account_id: int


Command = Start | Stop | AutoStart


@dataclass(frozen=True, slots=True)
class StoreRun:
    session_id: int
    run_key: str
    files: list[RecordedFile]


@dataclass(frozen=True, slots=True)
class Recover:
    report: RecoveryReport = field(default_factory=RecoveryReport)


Job = StoreRun | Recover


class RecordingService:
    """Records live sessions and stores what was recorded; implements `RecordingControl`."""

    def __init__(
        self,
        config: RecordingConfig,
        storage: Storage,
        db: async_sessionmaker[AsyncSession],
        rooms: SessionRooms,
        *,
        autostart: bool = False,
        shutdown_grace_s: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.autostart = autostart
        self.shutdown_grace_s = shutdown_grace_s
        self.log = logger or log
        self.store = RunStore(storage, db, self.log)
        self._db = db
        self._rooms = rooms
        self._runs: dict[int, Run] = {}
        self._commands: asyncio.Queue[tuple[Command, asyncio.Future[None] | None]] = asyncio.Queue()
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------

    def start(self, recovered: RecoveryReport) -> None:
        self._jobs.put_nowait(Recover(recovered))
        self._tasks = [
            asyncio.create_task(self._run_commands(), name="recording-control"),
            asyncio.create_task(self._run_jobs(), name="recording-store"),
        ]

    async def stop(self) -> None:
        """Stop every recording, give the uploads a grace period, then cancel: a store not
        finished resumes at the next start (journaled upload, spool file kept)."""
        for session_id in list(self._runs):
            await self._call(Stop(session_id, "shutdown", None, tell_room=True))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._jobs.join(), self.shutdown_grace_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def settled(self) -> None:
        """Wait until every command is applied and every store job done (tests, CLI)."""
        await self._commands.join()
        await self._jobs.join()

    def active(self, session_id: int) -> bool:
        return session_id in self._runs

    def track_stats(self) -> tuple[TrackRecorderStats, ...]:
        """Every track being recorded now, with its recorder's counters (/metrics)."""
        return tuple(t for run in list(self._runs.values()) for t in run.recorder.stats())

    # -- RecordingControl (web/live.py) -------------------------------------------------

    def recording_changed(
        self, session_id: int, active: bool, account_id: int | None, reason: str | None
    ) -> None:
        self._post(
            Start(session_id, account_id) if active else Stop(session_id, reason, account_id)
        )

    def session_opened(self, session_id: int, account_id: int) -> None:
        if self.autostart:
            self._post(AutoStart(session_id, account_id))

    async def session_closing(self, session_id: int) -> None:
        await self._call(Stop(session_id, "session_closed", None, tell_room=True))

    def _post(self, command: Command) -> None:
        self._commands.put_nowait((command, None))

    async def _call(self, command: Command) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commands.put_nowait((command, future))
        await future

    # -- the control loop -----------------------------------------------------------------

    async def _run_commands(self) -> None:
        while True:
            command, future = await self._commands.get()
            try:
                await _COMMANDS[type(command)](self, command)
            except Exception:
                self.log.exception("recording command %r failed", command)
            finally:
                if future is not None and not future.done():
                    future.set_result(None)
                self._commands.task_done()

    async def _start(self, command: Start) -> None:
        sid = command.session_id
        room = self._rooms.room(sid)
        if sid in self._runs or room is None or not room.recording:
            return  # already on, or switched off again before we got here
        run_key = f"sessions/{sid}/{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
        recorder = SessionRecorder(
            self.config,
            key_prefix=run_key,
            logger=self.log,
            on_failure=partial(self._on_failure, sid),
            on_need_keyframe=partial(_ask_keyframe, room),
        )
        self._runs[sid] = Run(sid, run_key, recorder, room)
        room.add_frame_subscriber(recorder)
        room.request_keyframes()
        await self.store.audit(
            sid, command.account_id, "recording.start", "session", sid, run_key=run_key
        )

    async def _stop(self, command: Stop) -> None:
        sid = command.session_id
        run = self._runs.pop(sid, None)
        room = run.room if run is not None else self._rooms.room(sid)
        if command.tell_room and room is not None:
            with contextlib.suppress(BridgeError):  # the room closed meanwhile
                await room.set_recording(False, command.reason)
        if run is None:
            return
        run.room.remove_frame_subscriber(run.recorder)
        files = await run.recorder.stop()  # finalizes the files; the uploads come later
        await self.store.audit(
            sid,
            command.account_id,
            "recording.stop",
            "session",
            sid,
            run_key=run.run_key,
            reason=command.reason,
            files=len(files),
        )
        self._jobs.put_nowait(StoreRun(sid, run.run_key, files))

    async def _autostart(self, command: AutoStart) -> None:
        room = self._rooms.open_room(command.session_id)
        await room.set_recording(True, None, self._rooms.participant_id(command.account_id))

    def _on_failure(self, session_id: int, failure: RecordingFailure) -> None:
        """A track could not be written (disk full): stop the session's recording cleanly
        and tell the room why; what was written is kept."""
        self.log.error(
            "session %d: recording stopped: %s (%s)", session_id, failure.reason, failure.error
        )
        self._post(Stop(session_id, failure.reason, None, tell_room=True))

    # -- the store worker -----------------------------------------------------------------

    async def _run_jobs(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                if isinstance(job, StoreRun):
                    await self.store.store_run(job.session_id, job.run_key, job.files)
                else:
                    await self.store.recover(job.report)
            except Exception:
                self.log.exception("recording job %r failed", job)
            finally:
                self._jobs.task_done()


_COMMANDS: dict[type, Callable[[RecordingService, Any], Awaitable[None]]] = {
    Start: RecordingService._start,
    Stop: RecordingService._stop,
    AutoStart: RecordingService._autostart,
}
