"""The bridge as `web/` sees it: rooms by id, and a signaling connection per client.

Usage from `web/` (see PROTOCOL.md for the messages):

bridge = Bridge(config, authorizer, event_sink)
conn = bridge.connect(room_id, principal, transport)   # per WebSocket
await conn.handle(json.loads(text))                     # per message
await conn.closed()                                     # when the socket closes
bridge.open_room(room_id).add_frame_subscriber(recorder)   # a room is a RoomTap
await bridge.close_room_if_empty(room_id)                 # a test room nobody is in
bridge.measurement(room_id, participant_id)            # what the bridge measured of one
bridge.start()                                          # its event-loop lag probe
bridge.stats()                                          # every room's counters (/metrics)
await bridge.stop()                                     # in the app's cleanup_ctx
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from bridge.config import BridgeConfig
from bridge.contracts import (
    Authorizer,
    BridgeStats,
    EventSink,
    Measurement,
    SignalingTransport,
)
from bridge.eventloop import LagProbe
from bridge.room import Room
from bridge.signaling import Connection

logger = logging.getLogger(__name__)


class Bridge:
    """Owns every room and connection of one bridge process; `stop()` ends them all."""

    def __init__(
        self,
        config: BridgeConfig,
        authorizer: Authorizer,
        events: EventSink,
        log: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self._authorizer = authorizer
        self._events = events
        self._log = log or logger
        self._rooms: dict[str, Room] = {}
        self._connections: set[Connection] = set()
        self._generations = itertools.count(1)
        self._lag = LagProbe()

    def start(self) -> None:
        """Start measuring the event loop's lag (on the running loop); `stop()` ends it."""
        self._lag.start()

    def stats(self) -> BridgeStats:
        """Every room's traffic counters and the loop's lag, now: `StatsSource`. Reads
        counters only (no await, no change): /metrics calls it at each scrape."""
        rooms = tuple(room.stats() for room in list(self._rooms.values()))
        return BridgeStats(rooms, self._lag.reading())

    def connect(self, room_id: str, principal: object, transport: SignalingTransport) -> Connection:
        """Start the signaling conversation of one client (call inside the event loop).
        `principal` is passed to the authorizer as is when the client sends 'join'."""
        connection = Connection(
            self,
            room_id,
            principal,
            transport,
            self.config,
            self._authorizer,
            lambda: next(self._generations),
        )
        self._connections.add(connection)
        return connection

    def release(self, connection: Connection) -> None:
        self._connections.discard(connection)

    def open_room(self, room_id: str) -> Room:
        """The room with this id, created (and started) if need be."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = Room(room_id, self.config, self._events)
            room.start()
            self._log.info("room %s opened", room_id)
        return room

    def room(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def measurement(self, room_id: str, participant_id: str) -> Measurement | None:
        """What the bridge measured of a participant's media in a room (its own receive
        statistics and the participant's receiver reports): `MeasurementSource`. None when
        the room or the participant is not there."""
        room = self._rooms.get(room_id)
        return None if room is None else room.measurement(participant_id)

    async def close_room(self, room_id: str) -> None:
        """End a room: every participant is disconnected, every track ends."""
        room = self._rooms.pop(room_id, None)
        if room is not None:
            await room.stop()

    async def close_room_if_empty(self, room_id: str) -> bool:
        """End the room if nobody is in it (a readiness test room its last tester left);
        True when it was closed. No await between the check and the removal."""
        room = self._rooms.get(room_id)
        if room is None or room.participants:
            return False
        await self.close_room(room_id)
        return True

    async def stop(self) -> None:
        self._lag.stop()
        connections, self._connections = list(self._connections), set()
        rooms, self._rooms = list(self._rooms.values()), {}
        await asyncio.gather(*(room.stop() for room in rooms))
        await asyncio.gather(*(c.stop() for c in connections))
