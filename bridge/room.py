"""A room: its participants, floor, pins, mutes, recording and agenda state, with one owner.

Every change goes through `Room.call`/`Room.post` as a typed command, applied by the room's
own task in order, synchronously (no `await` between a check and the change it guards;
STYLE 4). The media path runs beside it: published tracks fan frames out to slots and
frame subscribers without passing through the command queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bridge.config import BridgeConfig
from bridge.contracts import (
    Admission,
    BridgeEvent,
    EventSink,
    FrameSubscriber,
    JoinRefused,
    Measurement,
    ParticipantStats,
    RoomStats,
    TrackSource,
)
from bridge.errors import BridgeError, Conflict, Forbidden, NotFound
from bridge.forwarding import PublishedTrack, Slot
from bridge.peer import PeerLink
from bridge.policy import Member, ReceivePolicy, RoomView, SpeakerDetector, assign
from bridge.protocol import Agenda, ChairRequest, Floor, Mute, Pin, Recording, Remove

logger = logging.getLogger(__name__)

ParticipantState = Literal["connecting", "live", "away"]


class ClientPort(Protocol):
    """The room's way to reach one client connection."""

    def post(self, message: dict[str, Any]) -> None: ...

    def close_soon(self, reason: str) -> None: ...


@dataclass(eq=False)
class Participant:
    admission: Admission
    port: ClientPort | None
    peer: PeerLink | None = None
    state: ParticipantState = "connecting"
    away_since: float | None = None
    microphone_muted: bool = False
    camera_muted: bool = False
    screen: bool = False
    announced: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.admission.participant_id

    def describe(self) -> dict[str, Any]:
        a = self.admission
        return {
            "participant_id": a.participant_id,
            "display_name": a.display_name,
            "endpoint_id": a.endpoint_id,
            "is_central": a.is_central,
            "may_chair": a.may_chair,
            "state": self.state,
            "microphone_muted": self.microphone_muted,
            "camera_muted": self.camera_muted,
            "screen": self.screen,
        }

    def track(self, source: TrackSource) -> PublishedTrack | None:
        if self.peer is None or self.peer.state != "connected":
            return None
        return self.peer.published.get(source)


# -- commands ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    admission: Admission
    port: ClientPort


@dataclass(frozen=True, slots=True)
class AttachPeer:
    participant_id: str
    port: ClientPort
    peer: PeerLink


@dataclass(frozen=True, slots=True)
class PeerState:
    peer: PeerLink
    state: str


@dataclass(frozen=True, slots=True)
class PortClosed:
    participant_id: str
    port: ClientPort


@dataclass(frozen=True, slots=True)
class Leave:
    participant_id: str
    port: ClientPort


@dataclass(frozen=True, slots=True)
class Control:
    """A request from a participant: chair controls, or changes to its own state."""

    participant_id: str
    port: ClientPort
    request: ChairRequest


@dataclass(frozen=True, slots=True)
class ShareScreen:
    participant_id: str
    port: ClientPort
    active: bool


@dataclass(frozen=True, slots=True)
class Subscribe:
    subscriber: FrameSubscriber
    add: bool


@dataclass(frozen=True, slots=True)
class SetAgenda:
    item: Mapping[str, Any] | None
    # Also give the floor to whoever sits at this endpoint (the case's citizen), by `by`.
    floor_endpoint: int | None = None
    by: str | None = None


@dataclass(frozen=True, slots=True)
class SetRecording:
    active: bool
    reason: str | None
    by: str | None


@dataclass(frozen=True, slots=True)
class Tick:
    pass


Command = (
    Join
    | AttachPeer
    | PeerState
    | PortClosed
    | Leave
    | Control
    | ShareScreen
    | Subscribe
    | SetAgenda
    | SetRecording
    | Tick
)


class Room:
    """One reception session's media room. Create through `Bridge.open_room`."""

    def __init__(
        self,
        room_id: str,
        config: BridgeConfig,
        events: EventSink,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.room_id = room_id
        self._config = config
        self._events = events
        self._wallclock = wallclock
        self._policy = ReceivePolicy(
            config.thumbnail_slots, config.central_thumbnail_slots, config.audio_slots
        )
        self._speakers = SpeakerDetector(
            config.speaking_level,
            config.speaker_smoothing,
            config.dominant_margin,
            config.dominant_hold_ticks,
        )
        self.participants: dict[str, Participant] = {}
        self.removed: set[str] = set()
        self.floor: str | None = None
        self.pinned: tuple[str, ...] = ()
        self.screens: tuple[str, ...] = ()
        self.recording = False
        self.agenda: dict[str, Any] | None = None
        self._frame_subscribers: list[FrameSubscriber] = []
        self._inbox: asyncio.Queue[tuple[Command, asyncio.Future[Any] | None]] = asyncio.Queue()
        self._tick_pending = False
        self._fed: tuple[object, ...] = ()  # `_feed_key()` at the last `_reapply`
        self._tasks: list[asyncio.Task[None]] = []
        self._closers: set[asyncio.Task[None]] = set()
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"room-{self.room_id}"),
            asyncio.create_task(self._run_ticker(), name=f"room-{self.room_id}-tick"),
        ]

    async def stop(self) -> None:
        """Cancel the room's tasks, close every peer, and wait for all of it."""
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while not self._inbox.empty():
            _, future = self._inbox.get_nowait()
            if future is not None and not future.done():
                future.set_exception(Conflict("the room is closed", "room-closed"))
        for participant in list(self.participants.values()):
            if participant.port is not None:
                participant.port.close_soon("room-closed")
            self._close_peer(participant.peer)
        self.participants.clear()  # closing the peers ends their tracks for subscribers
        await asyncio.gather(*self._closers, return_exceptions=True)

    async def call(self, command: Command) -> Any:
        """Apply `command` in the room's task and return its result (or raise its error)."""
        if self._stopped:
            raise Conflict("the room is closed", "room-closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait((command, future))
        return await future

    def post(self, command: Command) -> None:
        """Queue `command` without waiting; errors are logged."""
        if not self._stopped:
            self._inbox.put_nowait((command, None))

    async def _run(self) -> None:
        while True:
            command, future = await self._inbox.get()
            try:
                result = self._apply(command)
            except (BridgeError, JoinRefused) as exc:
                if future is None:
                    logger.debug("room %s: %s refused: %s", self.room_id, command, exc)
                elif not future.done():
                    future.set_exception(exc)
            except Exception as exc:
                logger.exception("room %s: command %r failed", self.room_id, command)
                if future is not None and not future.done():
                    future.set_exception(exc)
            else:
                if future is not None and not future.done():
                    future.set_result(result)

    async def _run_ticker(self) -> None:
        while True:
            await asyncio.sleep(self._config.speaker_tick)  # a periodic timer
            if not self._tick_pending:
                self._tick_pending = True
                self.post(Tick())

    def _apply(self, command: Command) -> Any:
        return _HANDLERS[type(command)](self, command)

    # -- the public face for web/ and recording/ ---------------------------------

    def add_frame_subscriber(self, subscriber: FrameSubscriber) -> None:
        """Deliver the encoded frames of every track published in this room, now and
        later, to `subscriber` (a recorder, for one). It starts at a key frame."""
        self.post(Subscribe(subscriber, True))

    def remove_frame_subscriber(self, subscriber: FrameSubscriber) -> None:
        self.post(Subscribe(subscriber, False))

    def request_keyframes(self) -> None:
        """Ask every video publisher for a key frame (rate-limited per track)."""
        for participant in list(self.participants.values()):
            if participant.peer is not None:
                for track in participant.peer.published.values():
                    track.request_keyframe()

    def request_keyframe(self, track_id: str) -> bool:
        """Ask the publisher of one track for a key frame (rate-limited per track), as a
        recorder that fell behind does. False when no such track is published here."""
        for participant in list(self.participants.values()):
            if participant.peer is not None:
                for track in participant.peer.published.values():
                    if track.info.track_id == track_id:
                        track.request_keyframe()
                        return True
        return False

    def set_agenda(
        self,
        item: Mapping[str, Any] | None,
        floor_endpoint: int | None = None,
        by: str | None = None,
    ) -> None:
        """Show the case now being heard to everyone. `web/` decides what `item` holds
        (its code and, unless withheld, the citizen's name); the bridge passes it on. With
        `floor_endpoint`, the floor moves in the same step to a participant at that endpoint
        (one who does not chair, connected first), or to nobody when none is there."""
        self.post(SetAgenda(item, floor_endpoint, by))

    async def set_recording(
        self, active: bool, reason: str | None = None, by: str | None = None
    ) -> None:
        """Turn recording on or off from outside the room: `web/` does when asked through its
        API, when a session goes live or closes, and when a recorder fails (`reason`, e.g.
        "disk_full", tells everyone why it stopped). Emits the same "recording" event as
        the chair's control; nothing happens if the state is already `active`. Raises
        Conflict when the room is closed."""
        await self.call(SetRecording(active, reason, by))

    async def figures(self) -> dict[str, dict[str, Any]]:
        """RTT, loss, jitter, bitrate and frame rate per participant, as plain dicts."""
        out: dict[str, dict[str, Any]] = {}
        for participant in list(self.participants.values()):
            entry: dict[str, Any] = {"state": participant.state}
            if participant.peer is not None:
                entry.update(await participant.peer.figures())
            out[participant.id] = entry
        return out

    def measurement(self, participant_id: str) -> Measurement | None:
        """What the bridge measured of one participant's media, now; None if not here.
        Reads counters only (no await, no change), so it needs no command."""
        participant = self.participants.get(participant_id)
        if participant is None:
            return None
        peer = participant.peer
        return Measurement(
            room_id=self.room_id,
            participant_id=participant_id,
            endpoint_id=participant.admission.endpoint_id,
            state=participant.state,
            connected=peer is not None and peer.state == "connected",
            at=self._wallclock(),
            inbound=() if peer is None else peer.inbound_measures(),
            returned=() if peer is None else peer.return_measures(),
        )

    def stats(self) -> RoomStats:
        """Every participant's traffic counters, now (`Bridge.stats`). Reads counters only,
        like `measurement`: no await, no change."""
        return RoomStats(
            self.room_id,
            tuple(
                ParticipantStats(p.id, p.state, False) if p.peer is None else p.peer.stats(p.state)
                for p in list(self.participants.values())
            ),
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "room_id": self.room_id,
            "participants": [p.describe() for p in self.participants.values()],
            "floor": self.floor,
            "pinned": list(self.pinned),
            "dominant_speaker": self._speakers.dominant,
            "recording": self.recording,
            "agenda": self.agenda,
        }

    # -- helpers -----------------------------------------------------------------

    def _emit(self, kind: str, participant_id: str | None, **data: Any) -> None:
        event = BridgeEvent(self.room_id, kind, self._wallclock(), participant_id, data)
        try:
            self._events.emit(event)
        except Exception:
            logger.exception("event sink failed on %s", kind)

    def _broadcast(self, message: dict[str, Any], skip: str | None = None) -> None:
        for participant in self.participants.values():
            if participant.id != skip and participant.port is not None:
                participant.port.post(message)

    def _current(self, participant_id: str, port: ClientPort) -> Participant:
        participant = self.participants.get(participant_id)
        if participant is None or participant.port is not port:
            raise Conflict("this connection no longer holds a place in the room", "not-joined")
        return participant

    def _target(self, participant_id: str) -> Participant:
        participant = self.participants.get(participant_id)
        if participant is None:
            raise NotFound(f"no participant {participant_id!r} in this room")
        return participant

    def _close_peer(self, peer: PeerLink | None) -> None:
        if peer is None:
            return
        task = asyncio.create_task(peer.close(), name="bridge-peer-close")
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _update(self, participant: Participant) -> None:
        self._broadcast({"type": "participant", "action": "updated", **participant.describe()})

    # -- joining and leaving -----------------------------------------------------

    def _join(self, command: Join) -> Participant:
        admission = command.admission
        if admission.participant_id in self.removed:
            raise JoinRefused("removed", "Điểm cầu đã bị người chủ trì mời ra khỏi phiên.")
        participant = self.participants.get(admission.participant_id)
        resumed = participant is not None
        if participant is None:
            participant = Participant(admission, command.port)
            self.participants[participant.id] = participant
            self._emit("join", participant.id, endpoint_id=admission.endpoint_id)
        else:
            self._take_over(participant, command)
        participant.state, participant.away_since = "connecting", None
        participant.announced = []
        command.port.post(
            {
                "type": "joined",
                "participant_id": participant.id,
                "resumed": resumed,
                **self.snapshot(),
            }
        )
        action = "back" if resumed else "joined"
        self._broadcast(
            {"type": "participant", "action": action, **participant.describe()}, skip=participant.id
        )
        return participant

    def _take_over(self, participant: Participant, command: Join) -> None:
        """The same participant comes back (reconnection within the grace period, or a
        second tab): the newest connection wins the place."""
        old = participant.port
        if old is not None and old is not command.port:
            old.post(
                {
                    "type": "error",
                    "code": "replaced",
                    "message": "Phiên kết nối đã được mở ở nơi khác.",
                }
            )
            old.close_soon("replaced")
        participant.admission = command.admission
        participant.port = command.port

    def _attach_peer(self, command: AttachPeer) -> None:
        participant = self._current(command.participant_id, command.port)
        old, participant.peer = participant.peer, command.peer
        self._close_peer(old)
        command.peer.published["microphone"].muted = participant.microphone_muted
        command.peer.published["camera"].muted = participant.camera_muted
        for track in command.peer.published.values():
            for subscriber in self._frame_subscribers:
                track.subscribe(subscriber)
        self._reapply()

    def _peer_state(self, command: PeerState) -> None:
        participant = next((p for p in self.participants.values() if p.peer is command.peer), None)
        if participant is None:
            return
        if command.state == "connected" and participant.port is not None:
            participant.state, participant.away_since = "live", None
        elif command.state in ("failed", "closed"):
            self._go_away(participant)
        self._update(participant)
        self._reapply()

    def _port_closed(self, command: PortClosed) -> None:
        participant = self.participants.get(command.participant_id)
        if participant is None or participant.port is not command.port:
            return
        participant.port = None
        self._go_away(participant)
        self._update(participant)

    def _go_away(self, participant: Participant) -> None:
        """Hold the place for the grace period; the tick drops it after that."""
        if participant.state != "away":
            participant.state = "away"
            participant.away_since = time.monotonic()

    def _leave(self, command: Leave) -> None:
        participant = self._current(command.participant_id, command.port)
        command.port.post({"type": "left"})
        command.port.close_soon("left")
        self._drop(participant, "left")

    def _drop(self, participant: Participant, reason: str) -> None:
        del self.participants[participant.id]
        self._close_peer(participant.peer)
        participant.peer = None
        pid = participant.id
        if self.floor == pid:
            self.floor = None
            self._broadcast({"type": "floor", "participant_id": None, "by": None})
        self.pinned = tuple(p for p in self.pinned if p != pid)
        self.screens = tuple(p for p in self.screens if p != pid)
        self._broadcast(
            {"type": "participant", "action": "left", "reason": reason, **participant.describe()}
        )
        self._emit("leave", pid, reason=reason)
        self._reapply()

    # -- chair controls and self changes -----------------------------------------

    def _control(self, command: Control) -> None:
        actor = self._current(command.participant_id, command.port)
        request = command.request
        if isinstance(request, Mute) and request.target in (None, actor.id):
            self._set_mute(actor, actor, request)
            return
        if not actor.admission.may_chair:
            raise Forbidden(f"only the chair may send {type(request).__name__.lower()}")
        _CHAIR[type(request)](self, actor, request)
        self._reapply()

    def _give_floor(self, actor: Participant, request: Floor) -> None:
        if request.target is not None:
            self._target(request.target)
        self.floor = request.target
        self._broadcast({"type": "floor", "participant_id": self.floor, "by": actor.id})
        self._emit("floor", self.floor, by=actor.id)

    def _pin(self, actor: Participant, request: Pin) -> None:
        self._target(request.target)
        rest = tuple(p for p in self.pinned if p != request.target)
        self.pinned = (*rest, request.target) if request.pinned else rest
        self._broadcast(
            {
                "type": "pin",
                "participant_id": request.target,
                "pinned": request.pinned,
                "by": actor.id,
            }
        )

    def _chair_mute(self, actor: Participant, request: Mute) -> None:
        assert request.target is not None
        if not request.muted:
            raise Forbidden("only the participant may unmute itself")
        self._set_mute(actor, self._target(request.target), request)

    def _set_mute(self, actor: Participant, target: Participant, request: Mute) -> None:
        if request.source == "microphone":
            target.microphone_muted = request.muted
        else:
            target.camera_muted = request.muted
        if target.peer is not None:
            target.peer.published[request.source].muted = request.muted
        self._broadcast(
            {
                "type": "mute",
                "participant_id": target.id,
                "source": request.source,
                "muted": request.muted,
                "by": actor.id,
            }
        )
        self._emit("mute", target.id, source=request.source, muted=request.muted, by=actor.id)
        self._reapply()

    def _remove(self, actor: Participant, request: Remove) -> None:
        target = self._target(request.target)
        if target is actor:
            raise Conflict("use 'leave' to leave the room", "bad-target")
        if target.port is not None:
            target.port.post({"type": "removed", "by": actor.id})
            target.port.close_soon("removed")
        self.removed.add(target.id)
        self._emit("remove", target.id, by=actor.id)
        self._drop(target, "removed")

    def _record(self, actor: Participant, request: Recording) -> None:
        if request.active == self.recording:
            return
        self.recording = request.active
        self._broadcast({"type": "recording", "active": self.recording, "by": actor.id})
        self._emit("recording", actor.id, active=self.recording)

    def _set_recording(self, command: SetRecording) -> None:
        if command.active == self.recording:
            return
        self.recording = command.active
        extra = {} if command.reason is None else {"reason": command.reason}
        self._broadcast({"type": "recording", "active": self.recording, "by": command.by, **extra})
        self._emit("recording", command.by, active=self.recording, **extra)

    def _agenda(self, actor: Participant, request: Agenda) -> None:
        # web/ knows the agenda; it answers with Room.set_agenda().
        self._emit("agenda", actor.id, action=request.action, item_id=request.item_id)

    def _set_agenda(self, command: SetAgenda) -> None:
        self.agenda = None if command.item is None else dict(command.item)
        self._broadcast({"type": "agenda", "item": self.agenda})
        if command.floor_endpoint is not None:
            target = self._at_endpoint(command.floor_endpoint)
            self.floor = target
            self._broadcast({"type": "floor", "participant_id": target, "by": command.by})
            self._emit("floor", target, by=command.by)
            self._reapply()

    def _at_endpoint(self, endpoint_id: int) -> str | None:
        """Who speaks for an endpoint: a participant there who does not chair, preferring
        one whose media is up; None when nobody is there."""
        there = [
            p
            for p in self.participants.values()
            if p.admission.endpoint_id == endpoint_id and not p.admission.may_chair
        ]
        there.sort(key=lambda p: p.state != "live")  # stable: the first joined otherwise
        return there[0].id if there else None

    def _share_screen(self, command: ShareScreen) -> None:
        participant = self._current(command.participant_id, command.port)
        participant.screen = command.active
        rest = tuple(p for p in self.screens if p != participant.id)
        self.screens = (*rest, participant.id) if command.active else rest
        self._update(participant)
        self._reapply()

    def _subscribe(self, command: Subscribe) -> None:
        subs = [s for s in self._frame_subscribers if s is not command.subscriber]
        self._frame_subscribers = [*subs, command.subscriber] if command.add else subs
        for participant in self.participants.values():
            if participant.peer is None:
                continue
            for track in participant.peer.published.values():
                if command.add:
                    track.subscribe(command.subscriber)
                else:
                    track.unsubscribe(command.subscriber)

    # -- speakers, grace, and who receives what ----------------------------------

    def _tick(self, command: Tick) -> None:
        self._tick_pending = False
        levels = {}
        for participant in self.participants.values():
            track = participant.track("microphone")
            if track is not None:
                levels[participant.id] = track.take_audio_level()
        if self._speakers.update(levels):
            dominant = self._speakers.dominant
            self._broadcast({"type": "speaker", "participant_id": dominant})
            self._emit("speaker", dominant)
        self._expire()
        # Most ticks change nothing (the same speakers, the same peers): then every slot
        # already has what the policy would give it, and the pass over them is skipped.
        key = self._feed_key()
        if key != self._fed:
            self._reapply(key)

    def _expire(self) -> None:
        deadline = time.monotonic() - self._config.grace_period
        for participant in list(self.participants.values()):
            since = participant.away_since
            if participant.state == "away" and since is not None and since <= deadline:
                self._drop(participant, "timeout")

    def _view(self) -> RoomView:
        members = tuple(
            Member(
                p.id,
                p.admission.is_central,
                camera=p.track("camera") is not None and not p.camera_muted,
                microphone=p.track("microphone") is not None and not p.microphone_muted,
                screen=p.screen,
                loopback=p.admission.loopback,
            )
            for p in self.participants.values()
        )
        return RoomView(
            members,
            floor=self.floor,
            pinned=self.pinned,
            dominant=self._speakers.dominant,
            speaking=self._speakers.speaking,
            loudest=self._speakers.ranking(),
            screens=self.screens,
        )

    def _feed_key(self) -> tuple[object, ...]:
        """What `_reapply`'s result depends on: the policy's view, and each participant's
        peer connection and its state (the tracks a slot is fed from)."""
        peers = tuple(
            (p.id, id(p.peer), None if p.peer is None else p.peer.state)
            for p in self.participants.values()
        )
        return (self._view(), peers)

    def _reapply(self, key: tuple[object, ...] | None = None) -> None:
        self._fed = self._feed_key() if key is None else key
        view = self._fed[0]
        assert isinstance(view, RoomView)
        members = {m.participant_id: m for m in view.members}
        for participant in self.participants.values():
            if participant.peer is None or participant.peer.state == "closed":
                continue
            wanted = self._policy.wanted(view, members[participant.id])
            self._feed(participant, wanted.main, wanted.screen, wanted.thumbnails, wanted.audio)

    def _feed(
        self,
        participant: Participant,
        main: str | None,
        screen: str | None,
        thumbnails: tuple[str, ...],
        audio: tuple[str, ...],
    ) -> None:
        assert participant.peer is not None
        rows: dict[str, list[Slot]] = {"main": [], "screen": [], "thumbnail": [], "audio": []}
        for slot in participant.peer.slots:
            rows[slot.role].append(slot)
        self._fill(rows["main"], [main] if main else [], "camera")
        self._fill(rows["screen"], [screen] if screen else [], "screen")
        self._fill(rows["thumbnail"], list(thumbnails), "camera")
        self._fill(rows["audio"], list(audio), "microphone")
        self._announce(participant)

    def _fill(self, slots: list[Slot], wanted: list[str], source: TrackSource) -> None:
        current = [None if s.source is None else s.source.info.participant_id for s in slots]
        for slot, pid in zip(slots, assign(current, wanted), strict=True):
            owner = self.participants.get(pid) if pid is not None else None
            slot.switch(owner.track(source) if owner is not None else None)

    def _announce(self, participant: Participant) -> None:
        """Tell the client which participant each of its slots shows, when it changes."""
        assert participant.peer is not None
        described = [_describe_slot(slot) for slot in participant.peer.slots]
        if described != participant.announced and participant.port is not None:
            participant.announced = described
            participant.port.post({"type": "slots", "slots": described})


def _describe_slot(slot: Slot) -> dict[str, Any]:
    info = None if slot.source is None else slot.source.info
    return {
        "mid": slot.mid,
        "slot": slot.name,
        "kind": slot.kind,
        "participant_id": None if info is None else info.participant_id,
        "endpoint_id": None if info is None else info.endpoint_id,
        "source": None if info is None else info.source,
    }


_HANDLERS: dict[type, Callable[[Room, Any], Any]] = {
    Join: Room._join,
    AttachPeer: Room._attach_peer,
    PeerState: Room._peer_state,
    PortClosed: Room._port_closed,
    Leave: Room._leave,
    Control: Room._control,
    ShareScreen: Room._share_screen,
    Subscribe: Room._subscribe,
    SetAgenda: Room._set_agenda,
    SetRecording: Room._set_recording,
    Tick: Room._tick,
}

_CHAIR: dict[type, Callable[[Room, Participant, Any], None]] = {
    Floor: Room._give_floor,
    Pin: Room._pin,
    Mute: Room._chair_mute,
    Remove: Room._remove,
    Recording: Room._record,
    Agenda: Room._agenda,
}
