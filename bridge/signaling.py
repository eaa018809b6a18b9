"""One client's signaling conversation, independent of its transport.

`web/` hands each parsed JSON message to `Connection.handle` and tells it when the socket
closed; the connection answers through a `SignalingTransport`. Messages are dispatched
through a handler table (STYLE 12); a bad message gets a precise error back and changes
nothing, and the connection stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from bridge.config import BridgeConfig
from bridge.contracts import Authorizer, JoinRefused, SignalingTransport
from bridge.errors import BridgeError, Conflict, ProtocolError
from bridge.peer import PeerLink, PeerOwner, SlotLayout
from bridge.protocol import (
    echoable,
    parse_agenda,
    parse_answer,
    parse_candidate,
    parse_floor,
    parse_mute,
    parse_pin,
    parse_publish,
    parse_recording,
    parse_remove,
    request_id,
)
from bridge.room import (
    AttachPeer,
    Control,
    Join,
    Leave,
    Participant,
    PeerState,
    PortClosed,
    Room,
    ShareScreen,
)

logger = logging.getLogger(__name__)


class RoomDirectory(Protocol):
    def open_room(self, room_id: str) -> Room: ...

    def release(self, connection: Connection) -> None:
        """The connection has ended: its owner may drop it."""
        ...


class _Close:
    def __init__(self, reason: str) -> None:
        self.reason = reason


Handler = Callable[["Connection", Mapping[str, object]], Awaitable[None]]


class Connection:
    """Signaling for one client: join, negotiation, requests, and its outgoing queue.

    Outgoing messages go through a bounded queue drained by one writer task, so a client
    that stops reading never blocks the room; past the bound it is closed.
    """

    def __init__(
        self,
        rooms: RoomDirectory,
        room_id: str,
        principal: object,
        transport: SignalingTransport,
        config: BridgeConfig,
        authorizer: Authorizer,
        generations: Callable[[], int],
    ) -> None:
        self._rooms = rooms
        self.room_id = room_id
        self._principal = principal
        self._transport = transport
        self._config = config
        self._authorizer = authorizer
        self._generations = generations
        self.room: Room | None = None
        self.participant: Participant | None = None
        self.peer: PeerLink | None = None
        self._outbox: asyncio.Queue[dict[str, Any] | _Close] = asyncio.Queue()
        self._closing = False
        self._writer = asyncio.create_task(self._write(), name="bridge-signaling-writer")

    # -- ClientPort: what the room calls -----------------------------------------

    def post(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        if self._outbox.qsize() >= self._config.outbound_queue_messages:
            logger.info("room %s: client not reading, closing it", self.room_id)
            self.close_soon("overflow")
            return
        self._outbox.put_nowait(message)

    def close_soon(self, reason: str) -> None:
        """Send what is queued, then close the transport."""
        if not self._closing:
            self._closing = True
            self._outbox.put_nowait(_Close(reason))

    async def _write(self) -> None:
        while True:
            item = await self._outbox.get()
            if isinstance(item, _Close):
                with contextlib.suppress(Exception):
                    await self._transport.close(item.reason)
                await self._forget()
                self._rooms.release(self)
                return
            try:
                await self._transport.send(item)
            except Exception as exc:  # the socket died under us
                logger.debug("room %s: send failed: %s", self.room_id, exc)
                self._closing = True
                await self._forget()
                self._rooms.release(self)
                return

    # -- what web/ calls ---------------------------------------------------------

    async def handle(self, message: object) -> None:
        """Handle one parsed JSON message from the client. Never raises for bad input."""
        if not isinstance(message, Mapping):
            self._error("bad-message", "a message must be a JSON object", None, None)
            return
        kind = message.get("type")
        rid = request_id(message)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            detail = (
                f"unknown message type {kind!r}" if kind is not None else "field 'type' is missing"
            )
            self._error("unknown-type" if kind is not None else "bad-message", detail, kind, rid)
            return
        try:
            await handler(self, message)
        except JoinRefused as exc:
            self._error(exc.code, exc.message, kind, rid, refused=True)
        except BridgeError as exc:
            self._error(exc.code, exc.message, kind, rid)
        except Exception:  # a bug must not take the client's connection down with it
            logger.exception("room %s: %s failed", self.room_id, kind)
            self._error("internal", f"the bridge failed to handle {kind!r}", kind, rid)

    async def closed(self) -> None:
        """The transport is gone: hold the place for the grace period, stop writing."""
        self._closing = True
        await self._forget()
        await self.stop()

    async def stop(self) -> None:
        self._closing = True
        if self._writer is not asyncio.current_task():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        self._rooms.release(self)

    async def _forget(self) -> None:
        """Tell the room this connection no longer speaks for its participant."""
        if self.room is not None and self.participant is not None:
            self.room.post(PortClosed(self.participant.id, self))

    def _error(
        self,
        code: str,
        message: str,
        request: object,
        rid: str | int | None,
        refused: bool = False,
    ) -> None:
        reply: dict[str, Any] = {"type": "error", "code": code, "message": message}
        echoed = echoable(request, 32) if isinstance(request, str) else None
        if echoed is not None:
            reply["request"] = echoed
        if rid is not None:
            reply["id"] = rid
        if refused:
            reply["refused"] = True
        self.post(reply)

    def _joined(self) -> tuple[Room, Participant]:
        if self.room is None or self.participant is None:
            raise Conflict("send 'join' first", "not-joined")
        return self.room, self.participant

    # -- handlers ----------------------------------------------------------------

    async def _on_join(self, message: Mapping[str, object]) -> None:
        if self.participant is not None:
            raise Conflict("already joined", "already-joined")
        admission = await self._authorizer.authorize(self.room_id, self._principal)
        room = self._rooms.open_room(self.room_id)
        participant: Participant = await room.call(Join(admission, self))
        self.room, self.participant = room, participant
        await self._negotiate()

    async def _negotiate(self) -> None:
        """A new peer connection with the bridge's offer; an old one is closed once the
        room has switched to the new one."""
        room, participant = self._joined()
        admission = participant.admission
        thumbnails = (
            self._config.central_thumbnail_slots
            if admission.is_central
            else self._config.thumbnail_slots
        )
        layout = SlotLayout(thumbnails, self._config.audio_slots)
        generation = self._generations()
        owner = PeerOwner(self.room_id, participant.id, admission.endpoint_id, generation)
        peer = PeerLink(self._config, owner, layout, self._peer_state)
        sdp = await peer.offer()
        try:
            await room.call(AttachPeer(participant.id, self, peer))
        except BridgeError:
            await peer.close()
            raise
        self.peer = peer
        slots = [{"mid": s.mid, "slot": s.name, "kind": s.kind} for s in peer.slots]
        self.post({"type": "offer", "sdp": sdp, "publish": peer.published_mids(), "slots": slots})

    def _peer_state(self, peer: PeerLink, state: str) -> None:
        if self.room is not None:
            self.room.post(PeerState(peer, state))

    async def _on_answer(self, message: Mapping[str, object]) -> None:
        self._joined()
        answer = parse_answer(message, self._config.max_sdp_chars)
        if self.peer is None:
            raise Conflict("no offer is waiting for an answer", "no-offer")
        try:
            await self.peer.answer(answer.sdp)
        except ValueError as exc:
            raise ProtocolError(str(exc), "bad-sdp") from exc

    async def _on_ice(self, message: Mapping[str, object]) -> None:
        self._joined()
        candidate = parse_candidate(message)
        if self.peer is None:
            raise Conflict("no peer connection to add a candidate to", "no-offer")
        if candidate.candidate is None:
            return  # end of candidates: aiortc needs nothing
        try:
            await self.peer.add_candidate(candidate.candidate, candidate.sdp_mid, candidate.mline)
        except ValueError as exc:
            raise ProtocolError(str(exc), "bad-candidate") from exc

    async def _on_restart(self, message: Mapping[str, object]) -> None:
        await self._negotiate()

    async def _on_publish(self, message: Mapping[str, object]) -> None:
        room, participant = self._joined()
        request = parse_publish(message)
        await room.call(ShareScreen(participant.id, self, request.active))

    async def _control(self, request: Any) -> None:
        room, participant = self._joined()
        await room.call(Control(participant.id, self, request))

    async def _on_mute(self, message: Mapping[str, object]) -> None:
        await self._control(parse_mute(message))

    async def _on_floor(self, message: Mapping[str, object]) -> None:
        await self._control(parse_floor(message))

    async def _on_pin(self, message: Mapping[str, object]) -> None:
        await self._control(parse_pin(message))

    async def _on_recording(self, message: Mapping[str, object]) -> None:
        await self._control(parse_recording(message))

    async def _on_agenda(self, message: Mapping[str, object]) -> None:
        await self._control(parse_agenda(message))

    async def _on_remove(self, message: Mapping[str, object]) -> None:
        await self._control(parse_remove(message))

    async def _on_leave(self, message: Mapping[str, object]) -> None:
        room, participant = self._joined()
        await room.call(Leave(participant.id, self))
        self.participant = None

    async def _on_stats(self, message: Mapping[str, object]) -> None:
        room, _ = self._joined()
        self.post({"type": "stats", "participants": await room.figures()})


_HANDLERS: dict[str, Handler] = {
    "join": Connection._on_join,
    "answer": Connection._on_answer,
    "ice": Connection._on_ice,
    "restart": Connection._on_restart,
    "publish": Connection._on_publish,
    "mute": Connection._on_mute,
    "floor": Connection._on_floor,
    "pin": Connection._on_pin,
    "recording": Connection._on_recording,
    "agenda": Connection._on_agenda,
    "remove": Connection._on_remove,
    "leave": Connection._on_leave,
    "stats": Connection._on_stats,
}

# The message types a client may send: the canary and fuzz tests read them from here, so a
# type added to the table is exercised without anyone remembering to.
CLIENT_MESSAGE_TYPES: frozenset[str] = frozenset(_HANDLERS)
