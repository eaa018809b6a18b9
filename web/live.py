"""Live sessions: the bridge wired to the domain.

`web/` gives the bridge an authorizer (who may take which seat) and an event sink (timed
events stored as `session_events`; agenda moves answered with the item to show), and serves the
signaling WebSocket at /api/v1/sessions/{id}/bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import WSMsgType, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge import Admission, Bridge, BridgeConfig, BridgeEvent, JoinRefused
from sessions import audit, live, receptions
from sessions.access import Perm, Principal
from sessions.db import transaction
from sessions.errors import Conflict, Forbidden, NotFound
from sessions.models import Endpoint, ReceptionSession, Role, SessionState
from web.auth import audit_context, same_origin
from web.errors import json_text
from web.http import ok, principal, requires
from web.keys import CLOCK, CONFIG, DB
from web.validation import JsonError, decode_json, path_id

log = logging.getLogger("tiepdan.live")
ROOM = re.compile(r"^session-([0-9]+)$")
# A readiness check's test room: one endpoint's focal staff, with loopback (issue 5).
READINESS_ROOM = re.compile(r"^readiness-([0-9]+)$")
MAX_MESSAGE = 256 * 1024


def room_id(session_id: int) -> str:
    return f"session-{session_id}"


def participant_id(account_id: int) -> str:
    # Stable per account, so a reconnecting client takes its place back.
    return f"acct-{account_id}"


def _account_of(pid: str | None) -> int | None:
    if pid and pid.startswith("acct-") and pid[5:].isdigit():
        return int(pid[5:])
    return None


class SessionAuthorizer:
    """The bridge's Authorizer: a seat in a live session, or a refusal in Vietnamese."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def authorize(self, room: str, who: Any) -> Admission:
        check = READINESS_ROOM.match(room)
        if check is not None and isinstance(who, Principal):
            return await self._readiness_seat(int(check.group(1)), who)
        match = ROOM.match(room)
        if match is None or not isinstance(who, Principal):
            raise JoinRefused("not-found", "Không có phiên tiếp công dân này.")
        try:
            async with self._db() as db:
                seat = await live.seat_for(db, who, int(match.group(1)))
        except NotFound as exc:
            raise JoinRefused("not-found", exc.message) from None
        except Conflict as exc:
            raise JoinRefused("not-live", exc.message) from None
        except Forbidden as exc:
            raise JoinRefused("not-attendee", exc.message) from None
        return Admission(
            participant_id=participant_id(who.account_id),
            display_name=f"{who.full_name} – {seat.endpoint_name}",
            endpoint_id=seat.endpoint_id,
            is_central=seat.is_central,
            may_chair=seat.may_chair,
        )

    async def _readiness_seat(self, endpoint_id: int, who: Principal) -> Admission:
        """The test room of an endpoint: only its own focal staff, only while it is active;
        the participant gets its own camera and microphone back (loopback)."""
        if Role.FOCAL_STAFF not in who.roles or who.endpoint_id != endpoint_id:
            raise JoinRefused(
                "not-focal-staff",
                "Chỉ cán bộ đầu mối của điểm cầu này được vào phòng kiểm tra kết nối.",
            )
        async with self._db() as db:
            endpoint = await db.get(Endpoint, endpoint_id)
        if endpoint is None:
            raise JoinRefused("not-found", f"Không tìm thấy điểm cầu #{endpoint_id}.")
        if not endpoint.active:
            raise JoinRefused(
                "endpoint-inactive",
                f"{endpoint.name} đang ngừng hoạt động nên cầu truyền hình không mở phòng "
                "kiểm tra: hãy đề nghị quản trị hệ thống kích hoạt lại điểm cầu.",
            )
        return Admission(
            participant_id=readiness_participant_id(who.account_id),
            display_name=f"{who.full_name} – {endpoint.name} (kiểm tra)",
            endpoint_id=endpoint_id,
            is_central=False,
            may_chair=False,
            loopback=True,
        )


def readiness_room_id(endpoint_id: int) -> str:
    return f"readiness-{endpoint_id}"


def readiness_participant_id(account_id: int) -> str:
    """One account's place in a test room: its check is judged on this participant's media."""
    return f"check-{account_id}"


class RecordingControl(Protocol):
    """What the live path tells the recording service (recording/service/); must not block."""

    def recording_changed(
        self, session_id: int, active: bool, account_id: int | None, reason: str | None
    ) -> None: ...

    def session_opened(self, session_id: int, account_id: int) -> None: ...

    async def session_closing(self, session_id: int) -> None:
        """Stop recording the session (files finalized; uploads go on in the background)."""
        ...


class EventWriter:
    """The bridge's EventSink: queues events (emit never blocks the media path) and one owned
    task stores them; agenda moves are answered with the item to show."""

    def __init__(self, db: async_sessionmaker[AsyncSession], queue_size: int = 10_000) -> None:
        self._db = db
        self._queue: asyncio.Queue[BridgeEvent] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._agenda: dict[int, int | None] = {}
        self.bridge: Bridge | None = None
        self.recording: RecordingControl | None = None
        self.dropped = 0

    def emit(self, event: BridgeEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error(
                "session event dropped",
                extra={"event": {"kind": event.kind, "room": event.room_id}},
            )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-events")

    async def stop(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drain(self) -> None:
        """Wait until every queued event is stored (tests, and before closing a session)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._store(event)
            except Exception:
                log.exception(
                    "storing a session event failed", extra={"event": {"kind": event.kind}}
                )
            finally:
                self._queue.task_done()

    async def _store(self, event: BridgeEvent) -> None:
        match = ROOM.match(event.room_id)
        if match is None:
            return
        session_id = int(match.group(1))
        data = dict(event.data)
        async with transaction(self._db) as db:
            if event.kind == "agenda":
                data = await self._move_agenda(db, session_id, data, event.participant_id)
            endpoint = data.pop("endpoint_id", None) if event.kind == "join" else None
            await live.add_event(
                db,
                session_id,
                datetime.fromtimestamp(event.at, UTC),
                event.kind,
                event.participant_id or "",
                _account_of(event.participant_id),
                endpoint if isinstance(endpoint, int) else None,
                _jsonable(data),
            )
        if event.kind == "recording" and self.recording is not None:
            # Stored first, so the recorder's stop sees every agenda move before it.
            reason = data.get("reason")
            self.recording.recording_changed(
                session_id,
                data.get("active") is True,
                _account_of(event.participant_id),
                reason if isinstance(reason, str) else None,
            )

    async def _move_agenda(
        self, db: AsyncSession, session_id: int, data: dict[str, Any], by: str | None
    ) -> dict[str, Any]:
        from sqlalchemy.orm import selectinload

        from sessions.models import AgendaItem, ReceptionSession

        s = await db.get(
            ReceptionSession,
            session_id,
            options=[selectinload(ReceptionSession.agenda).selectinload(AgendaItem.citizens)],
        )
        if s is None:
            return data
        # The protocol carries item ids as strings (bridge/protocol.py parse_agenda).
        raw = data.get("item_id")
        goto = int(raw) if isinstance(raw, str) and raw.isascii() and raw.isdigit() else None
        item = live.step_agenda(
            s, self._agenda.get(session_id), str(data.get("action", "next")), goto
        )
        if item is None:
            return data | {"moved": False}
        self._agenda[session_id] = item.id
        shown = await live.agenda_display(db, item)
        room = self.bridge.room(room_id(session_id)) if self.bridge else None
        if room is not None:
            # The case's endpoint gets the floor with it ("Vụ việc tiếp theo").
            room.set_agenda(shown, floor_endpoint=item.endpoint_id, by=by)
        return data | {
            "moved": True,
            "item_id": item.id,
            "case_id": item.case_id,
            "position": item.position,
        }


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return out


class LiveService:
    """The bridge and its wiring, one per app."""

    def __init__(self, config: BridgeConfig, db: async_sessionmaker[AsyncSession]) -> None:
        self.events = EventWriter(db)
        self.bridge = Bridge(config, SessionAuthorizer(db), self.events)
        self.events.bridge = self.bridge

    def start(self) -> None:
        self.events.start()
        self.bridge.start()

    async def stop(self) -> None:
        await self.bridge.stop()
        await self.events.stop()


LIVE = web.AppKey("live", LiveService)


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    service = LiveService(app[BRIDGE_CONFIG], app[DB])
    app[LIVE] = service
    service.start()
    yield
    await service.stop()


BRIDGE_CONFIG = web.AppKey("bridge_config", BridgeConfig)


class SocketTransport:
    """The bridge's SignalingTransport over an aiohttp WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        if not self._ws.closed:
            await self._ws.send_str(json_text(message))

    async def close(self, reason: str) -> None:
        await self._ws.close(message=reason.encode()[:120])


@requires(Perm.SESSIONS_READ)
async def bridge_socket(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    session_id = path_id(request)
    if not same_origin(request):
        raise Forbidden("Nguồn kết nối không hợp lệ.", {"Origin": "khác trang của hệ thống"})
    async with request.app[DB]() as db:
        await receptions.get_session(db, p, session_id)  # 404 before upgrading when not visible
    return await _serve_bridge(request, room_id(session_id))


async def _serve_bridge(request: web.Request, room: str) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    conn = request.app[LIVE].bridge.connect(room, principal(request), SocketTransport(ws))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                try:
                    parsed: object = decode_json(msg.data)
                except JsonError:
                    parsed = None  # the bridge answers a precise bad-message error
                await conn.handle(parsed)
            elif msg.type is WSMsgType.ERROR:
                break
    finally:
        await conn.closed()
    return ws


@requires(Perm.SESSIONS_READ)
async def readiness_socket(request: web.Request) -> web.StreamResponse:
    """The signaling WebSocket of an endpoint's readiness test room (loopback). Whether the
    bridge lets the caller in (an inactive endpoint, say) is the authorizer's answer."""
    p = principal(request)
    endpoint_id = path_id(request)
    if not same_origin(request):
        raise Forbidden("Nguồn kết nối không hợp lệ.", {"Origin": "khác trang của hệ thống"})
    if p.endpoint_id != endpoint_id:
        raise NotFound(f"Không tìm thấy điểm cầu #{endpoint_id} của tài khoản này.")
    room = readiness_room_id(endpoint_id)
    try:
        return await _serve_bridge(request, room)
    finally:
        await request.app[LIVE].bridge.close_room_if_empty(room)  # nobody left testing


async def move_session(request: web.Request, target: SessionState, action: str) -> ReceptionSession:
    """Open or close a session, for the API and the session page alike: the state change,
    its audit record and event in one transaction, then recording and the room follow."""
    p = principal(request)
    session_id = path_id(request)
    config = request.app[CONFIG]
    async with transaction(request.app[DB]) as db:
        s = await live.move_session(
            db,
            p,
            session_id,
            target,
            request.app[CLOCK](),
            config.scheduling.open_lead,
            config.tz,
        )
        await audit.record(db, audit_context(request), action, "session", s.id, s.unit_id)
        await live.add_event(
            db, s.id, datetime.now(UTC), action.split(".")[1], account_id=p.account_id
        )
    recording = request.app[LIVE].events.recording
    if target is SessionState.LIVE and recording is not None:
        recording.session_opened(session_id, p.account_id)
    if target is SessionState.ENDED:
        if recording is not None:
            await recording.session_closing(session_id)
        await request.app[LIVE].bridge.close_room(room_id(session_id))
        await request.app[LIVE].events.drain()
    return s


async def _move(request: web.Request, target: SessionState, action: str) -> web.StreamResponse:
    s = await move_session(request, target, action)
    return ok({"id": s.id, "state": s.state.value})


@requires(Perm.SESSIONS_RUN)
async def open_session(request: web.Request) -> web.StreamResponse:
    return await _move(request, SessionState.LIVE, "session.open")


@requires(Perm.SESSIONS_RUN)
async def close_session(request: web.Request) -> web.StreamResponse:
    return await _move(request, SessionState.ENDED, "session.close")


@requires(Perm.SESSIONS_READ)
async def session_figures(request: web.Request) -> web.StreamResponse:
    """Per participant RTT, loss, jitter, bitrate, frame rate of the live room."""
    p = principal(request)
    session_id = path_id(request)
    async with request.app[DB]() as db:
        await receptions.get_session(db, p, session_id)
    room = request.app[LIVE].bridge.room(room_id(session_id))
    figures = await room.figures() if room is not None else {}
    return ok({"session_id": session_id, "participants": figures})


@requires(Perm.SESSIONS_READ)
async def session_events(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    session_id = path_id(request)
    tz = request.app[CONFIG].tz
    async with request.app[DB]() as db:
        await receptions.get_session(db, p, session_id)
        rows = await live.list_events(db, session_id)
    return ok(
        {
            "items": [
                {
                    "id": r.id,
                    "at": r.at.astimezone(tz).isoformat(),
                    "kind": r.kind,
                    "participant_id": r.participant_id,
                    "account_id": r.account_id,
                    "endpoint_id": r.endpoint_id,
                    "data": r.data,
                }
                for r in rows
            ]
        }
    )


def setup(app: web.Application, config: BridgeConfig) -> None:
    app[BRIDGE_CONFIG] = config
    app.cleanup_ctx.append(live_ctx)
    r = app.router
    r.add_get("/api/v1/sessions/{id:[0-9]+}/bridge", bridge_socket)
    r.add_get("/api/v1/endpoints/{id:[0-9]+}/readiness-bridge", readiness_socket)
    r.add_post("/api/v1/sessions/{id:[0-9]+}/open", open_session)
    r.add_post("/api/v1/sessions/{id:[0-9]+}/close", close_session)
    r.add_get("/api/v1/sessions/{id:[0-9]+}/figures", session_figures)
    r.add_get("/api/v1/sessions/{id:[0-9]+}/events", session_events)
