"""The measured process: the bridge (or the transcoding baseline) behind loopback TCP.

It serves participants' signaling and the load process's `mark` requests, each answered
with this process's CPU time, memory and forwarding counters, and stops when the parent
says so (or closes the pipe), or when its lifetime runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from multiprocessing.connection import Connection
from typing import Any, Literal, Protocol

from bridge import eventloop
from bridge.bench.stats import Histogram, process_figures, sender_packets
from bridge.bench.wire import (
    LINE_LIMIT,
    LOOPBACK,
    LineTransport,
    loopback_only,
    read_message,
    write_message,
)
from bridge.config import BridgeConfig
from bridge.contracts import Admission, BridgeEvent, JoinRefused
from bridge.forwarding import Slot
from bridge.service import Bridge

ServerKind = Literal["sfu", "transcode"]
ROOM = "bench"
CENTRAL = "central"


class Target(Protocol):
    """What the server process runs: one way of forwarding media."""

    async def client(
        self, principal: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None: ...

    def arm(self) -> None:
        """The measurement window starts: reset what is measured per frame."""

    async def counters(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


class BenchAuthorizer:
    """Everyone may join; "central" is the central endpoint and chairs."""

    async def authorize(self, room_id: str, principal: Any) -> Admission:
        if not isinstance(principal, str):
            raise JoinRefused("not-attendee", "principal must be a string")
        central = principal == CENTRAL
        endpoint = 0 if central else int(principal.removeprefix("e"))
        return Admission(principal, principal, endpoint, central, central)


class NullSink:
    def emit(self, event: BridgeEvent) -> None:
        pass


class SfuTarget:
    """The bridge as `web/` runs it, with default settings."""

    def __init__(self) -> None:
        self.bridge = Bridge(BridgeConfig(), BenchAuthorizer(), NullSink())
        self._latency = {"video": Histogram(), "audio": Histogram()}

    async def client(
        self, principal: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = self.bridge.connect(ROOM, principal, LineTransport(writer))
        try:
            while (message := await read_message(reader)) is not None:
                await connection.handle(message)
        finally:
            await connection.closed()

    def _slots(self) -> list[tuple[Slot, Any]]:
        """Every receive slot in the room with its aiortc transceiver."""
        room = self.bridge.room(ROOM)
        found: list[tuple[Slot, Any]] = []
        for participant in [] if room is None else room.participants.values():
            if participant.peer is not None:
                for transceiver in participant.peer.pc.getTransceivers():
                    track = transceiver.sender.track
                    if isinstance(track, Slot):
                        found.append((track, transceiver))
        return found

    def arm(self) -> None:
        for histogram in self._latency.values():
            histogram.clear()
        for slot, _ in self._slots():
            slot.on_sent = self._latency[slot.kind].add

    async def counters(self) -> dict[str, Any]:
        room = self.bridge.room(ROOM)
        peers = [] if room is None else [p.peer for p in room.participants.values() if p.peer]
        packets_out = {"audio": 0, "video": 0}
        dropped = 0
        for slot, transceiver in self._slots():
            packets_out[slot.kind] += await sender_packets(transceiver)
            dropped += slot.frames_dropped
        return {
            "slot_drops": dropped,
            "participants": len(peers),
            "packets_in": sum(t.packets for peer in peers for t in peer.published.values()),
            "packets_out": packets_out,
            "latency": {kind: h.summary() for kind, h in self._latency.items()},
        }

    async def stop(self) -> None:
        await self.bridge.stop()


def make_target(kind: ServerKind) -> Target:
    if kind == "sfu":
        return SfuTarget()
    from bridge.bench.transcode import TranscodeRelay

    return TranscodeRelay()


def serve(kind: ServerKind, pipe: Connection, lifetime: float) -> None:
    """Process entry point: report {"port", "pid"} on `pipe`, serve until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    logging.basicConfig(level=logging.WARNING)
    loopback_only()
    # The loop `tiepdan serve` runs on by default, so the figures are the served bridge's.
    eventloop.run(_serve(make_target(kind), pipe, lifetime), "uvloop")


async def _serve(target: Target, pipe: Connection, lifetime: float) -> None:
    idle = process_figures()
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            hello = await read_message(reader)
            if hello is not None and hello.get("role") == "control":
                await _control(target, idle["rss"], reader, writer)
            elif hello is not None:
                await target.client(str(hello.get("principal")), reader, writer)
        except (ConnectionError, ValueError):
            pass  # the load process went away, or sent garbage: that client ends
        except asyncio.CancelledError:
            pass  # the server is stopping (it cancelled this task, and waits for it)
        finally:
            handlers.discard(task)
            writer.close()

    server = await asyncio.start_server(handle, LOOPBACK, 0, limit=LINE_LIMIT)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(pipe.fileno(), stop.set)  # a message or EOF from the parent
    try:
        pipe.send({"port": server.sockets[0].getsockname()[1]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), lifetime)
    finally:
        loop.remove_reader(pipe.fileno())
        server.close()
        await target.stop()  # every peer connection closes before its handler is cancelled
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def _control(
    target: Target, idle_rss: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while (message := await read_message(reader)) is not None:
        if message.get("arm"):
            target.arm()
        figures = process_figures()
        counters = await target.counters()
        await write_message(writer, {**figures, **counters, "idle_rss": idle_rss})
