"""The load process: synthetic participants that publish replayed VP8 and Opus and count,
per receive slot, the complete frames that arrive (nothing is decoded here either).

It joins everyone, waits until every slot the topology feeds has shown a frame, then
measures three windows on the same peers: everyone sending audio and video (`duration`
seconds), then audio only and video only (`kind_seconds` each; the other kind's tracks
paused, so the topology and the slots stay as they are). For each window it asks the server
to `mark` its start and end, and returns both marks with its own counts of frames sent and
received, the end-to-end delays of the marked frames its subscribers received (send time at
the publisher to receive time, on this process's clock) and its own CPU, loop lag and the
kernel's UDP drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RtpPacket

from bridge.bench.media import MARK_SIZE, Clip, Replay, sent_at
from bridge.bench.stats import Histogram
from bridge.bench.wire import LINE_LIMIT, LOOPBACK, loopback_only, read_message, write_message
from bridge.frames import vp8_depayload

CENTRAL = "central"
CENTRAL_VIDEO_SLOTS = 9  # main + BridgeConfig.central_thumbnail_slots
AUDIO_SLOTS = 3
SETTLE_SECONDS = 1.0  # after pausing a kind, before its window starts: queues drain
# Frames are counted as received from this long after the window starts to this long after
# it ends: a frame in flight at an edge is neither lost nor counted twice.
DELIVERY_SECONDS = 0.3
Kind = Literal["audio", "video"]
KINDS: tuple[Kind, Kind] = ("audio", "video")
Control = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True, slots=True)
class Plan:
    port: int
    endpoints: int
    duration: float
    warmup_limit: float
    video: Clip
    audio: Clip
    kind_seconds: float = 0.0  # the audio-only and video-only windows; 0: none
    mark: bool = False  # mark frames with their send time (the bridge forwards them as sent)
    hog: float = 0.0  # keep this loop busy for this share of the time (a saturated generator)
    # Stop after a warm-up that did not feed every slot, or after the first window when it
    # lost at least this share of frames (%): the server is saturated at this size.
    give_up_pct: float | None = None


@dataclass
class SlotCount:
    """Complete frames received on one slot: a video frame counts when every packet from
    the previous marker to its own marker arrived (sequence numbers run on in a slot)."""

    kind: str
    delays: Histogram  # end-to-end, of the complete marked frames received (shared per kind)
    source: str | None = None
    switches: int = 0
    frames: int = 0
    _last_seq: int | None = None
    _broken: bool = False
    _previous: bytes = b""  # the payload before, for a mark split over the last two packets

    def add(self, packet: RtpPacket) -> None:
        seq = packet.sequence_number
        if self._last_seq is not None and seq != (self._last_seq + 1) & 0xFFFF:
            self._broken = True
        self._last_seq = seq
        if self.kind == "audio":
            self.frames += 1
            self._delay(packet.payload[-MARK_SIZE:])
        elif packet.marker:
            if not self._broken:
                self.frames += 1
                self._delay(self._vp8_tail(packet.payload))
            self._broken = False
        else:
            self._previous = packet.payload

    def _vp8_tail(self, payload: bytes) -> bytes:
        """A video frame's last bytes: the bridge packetizes in fixed steps, so the last
        packet may hold only part of the mark."""
        try:
            data = vp8_depayload(payload)[0]
            if len(data) < MARK_SIZE:
                data = vp8_depayload(self._previous)[0] + data
        except ValueError:
            return b""
        return data[-MARK_SIZE:]

    def _delay(self, tail: bytes) -> None:
        sent = sent_at(tail)
        if sent is not None:
            self.delays.add(time.perf_counter() - sent)


@dataclass(eq=False)
class Participant:
    principal: str
    camera: Replay
    microphone: Replay
    delays: dict[str, Histogram]  # by kind, shared by every participant
    pc: RTCPeerConnection | None = None
    slots: dict[str, SlotCount] = field(default_factory=dict)  # by mid
    # The latest `slots` message by mid: the bridge may send it before its offer.
    assigned: dict[str, str | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None

    async def join(self, port: int) -> None:
        reader, self._writer = await asyncio.open_connection(LOOPBACK, port, limit=LINE_LIMIT)
        await write_message(self._writer, {"role": "client", "principal": self.principal})
        await write_message(self._writer, {"type": "join"})
        self._reader_task = asyncio.create_task(self._read(reader), name=f"load-{self.principal}")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while (message := await read_message(reader)) is not None:
            kind = message.get("type")
            if kind == "offer":
                await self._answer(message)
            elif kind == "slots":
                self._assign(message["slots"])
            elif kind == "error":
                self.errors.append(f"{message.get('code')}: {message.get('message')}")

    async def _answer(self, offer: dict[str, Any]) -> None:
        # max-bundle: with the default policy an aiortc answerer leaves the extra m-lines
        # on a transport it then discards (aiortc 1.16), and they receive nothing.
        pc = self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        publish = offer["publish"]
        sources = {publish.get("camera"): self.camera, publish.get("microphone"): self.microphone}
        for transceiver in pc.getTransceivers():
            if transceiver.mid in sources:
                source = sources[transceiver.mid]
                transceiver.sender.replaceTrack(source)
                transceiver.direction = "sendonly"
                # A PLI from the bridge restarts the clip at its key frame.
                setattr(transceiver.sender, "_send_keyframe", source.request_keyframe)  # noqa: B010
            elif transceiver.mid not in publish.values():
                self._count(transceiver)
        await pc.setLocalDescription(await pc.createAnswer())
        assert self._writer is not None
        await write_message(self._writer, {"type": "answer", "sdp": pc.localDescription.sdp})
        self.answered.set()

    def _count(self, transceiver: Any) -> None:
        """Count what arrives in place of aiortc's jitter buffer and decoder."""
        kind = transceiver.kind
        slot = self.slots[transceiver.mid] = SlotCount(kind, self.delays[kind])
        slot.source = self.assigned.get(transceiver.mid)

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            slot.add(packet)

        transceiver.receiver._handle_rtp_packet = handle

    def _assign(self, slots: list[dict[str, Any]]) -> None:
        for entry in slots:
            mid, source = entry["mid"], entry["participant_id"]
            self.assigned[mid] = source
            slot = self.slots.get(mid)
            if slot is not None and slot.source != source:
                slot.source = source
                slot.switches += 1

    def pause(self, kind: Kind, paused: bool) -> None:
        (self.camera if kind == "video" else self.microphone).pause(paused)

    def expected(self, endpoints: int) -> dict[str, int]:
        """How many slots of each kind the topology feeds for this participant."""
        video = min(endpoints, CENTRAL_VIDEO_SLOTS) if self.principal == CENTRAL else 1
        return {"video": video, "audio": min(endpoints, AUDIO_SLOTS)}

    def ready(self, endpoints: int) -> bool:
        live = [s for s in self.slots.values() if s.source is not None and s.frames]
        want = self.expected(endpoints)
        return all(sum(s.kind == k for s in live) == n for k, n in want.items())

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
        if self.pc is not None:
            await self.pc.close()


def snapshot(participants: list[Participant]) -> dict[str, Any]:
    """Frames sent per publisher, and per slot its source and frames received."""
    return {
        "sent": {
            p.principal: {"video": p.camera.sent, "audio": p.microphone.sent} for p in participants
        },
        "slots": {
            f"{p.principal}/{mid}": (s.kind, s.source, s.switches, s.frames)
            for p in participants
            for mid, s in p.slots.items()
        },
    }


def frames_lost(
    start: dict[str, Any],
    end: dict[str, Any],
    start_rx: dict[str, Any] | None = None,
    end_rx: dict[str, Any] | None = None,
) -> dict[str, dict[str, int]]:
    """Per kind: frames the publishers sent to slots fed all through the window (expected,
    from `start` to `end`), frames those slots received (from `start_rx` to `end_rx`: the
    same moments plus the time a frame takes to arrive, so that frames in flight at the
    window's edges count once), and how many such streams there were."""
    start_rx, end_rx = start_rx or start, end_rx or end
    out = {k: {"expected": 0, "received": 0, "streams": 0} for k in ("audio", "video")}
    for key, (kind, source, switches, _) in end["slots"].items():
        rows = [start["slots"].get(key), start_rx["slots"].get(key), end_rx["slots"].get(key)]
        if source is None or any(r is None or r[1:3] != (source, switches) for r in rows):
            continue
        sent = end["sent"][source][kind] - start["sent"][source][kind]
        if sent <= 0:
            continue
        row = out[kind]
        row["expected"] += sent
        row["received"] += rows[2][3] - rows[1][3]
        row["streams"] += 1
    return out


async def _control(port: int) -> Control:
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=LINE_LIMIT)
    await write_message(writer, {"role": "control"})
    return reader, writer


async def _mark(control: Control, arm: bool) -> Any:
    await write_message(control[1], {"type": "mark", "arm": arm})
    reply = await read_message(control[0])
    if reply is None:
        raise ConnectionError("the server closed the control connection")
    return reply


async def _warm_up(plan: Plan, participants: list[Participant]) -> list[str]:
    """Join everyone (a few at a time) and wait until every fed slot has shown a frame.
    Returns what was still missing at the deadline (empty when all is well)."""
    deadline = time.monotonic() + plan.warmup_limit
    gate = asyncio.Semaphore(4)

    async def join(p: Participant) -> None:
        async with gate:
            await p.join(plan.port)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(p.answered.wait(), max(0.0, deadline - time.monotonic()))

    await asyncio.gather(*(join(p) for p in participants))
    while time.monotonic() < deadline:
        if all(p.ready(plan.endpoints) for p in participants):
            await asyncio.sleep(1.0)  # let the first key frames' burst pass
            return []
        await asyncio.sleep(0.1)
    missing = [p.principal for p in participants if not p.ready(plan.endpoints)]
    errors = [f"{p.principal}: {e}" for p in participants for e in p.errors]
    return [f"not every slot received frames: {', '.join(missing[:8])}", *errors[:5]]


def _trouble(
    participants: list[Participant], before: dict[str, Any], after: dict[str, Any]
) -> list[str]:
    """What went wrong in the window: peers not connected at its end, slots switched."""
    down = [
        p.principal for p in participants if p.pc is None or p.pc.connectionState != "connected"
    ]
    switched = sum(
        1
        for key, row in after["slots"].items()
        if key in before["slots"] and row[2] != before["slots"][key][2]
    )
    out = [f"peer connections down at the end: {', '.join(down[:8])}"] if down else []
    return out + ([f"{switched} slots switched source in the window"] if switched else [])


def udp_drops() -> int | None:
    """The kernel's count of UDP datagrams dropped for a full receive buffer, all sockets
    of the machine (`RcvbufErrors` in /proc/net/snmp); None where it cannot be read."""
    try:
        with open("/proc/net/snmp", encoding="ascii") as snmp:
            rows = [line.split() for line in snmp]
    except OSError:
        return None
    udp = [r for r in rows if r and r[0] == "Udp:"]
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return None
    return int(udp[1][udp[0].index("RcvbufErrors")])


class LoopLag:
    """How late this process's event loop runs a 10 ms timer: a generator whose loop is
    late cannot send or read on time, and then measures itself."""

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            at = time.perf_counter()
            await asyncio.sleep(0.01)
            late = (time.perf_counter() - at - 0.01) * 1000
            self.samples.append(late)
            self.worst_ms = max(self.worst_ms, late)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> float:
        """The 99th percentile lag, ms."""
        if self._task is not None:
            self._task.cancel()
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class Hog:
    """Keeps this process's event loop busy for `share` of every 100 ms: a load generator
    saturated on purpose, to check that such a run is refused."""

    def __init__(self, share: float) -> None:
        self.share = share
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            until = time.perf_counter() + 0.1 * self.share
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0.1 * (1 - self.share))

    def start(self) -> None:
        if self.share > 0:
            self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _window(
    plan: Plan,
    control: Control,
    participants: list[Participant],
    seconds: float,
    delays: dict[str, Histogram],
) -> dict[str, Any]:
    """One measurement window: the server's marks at its start and end, and ours."""
    for histogram in delays.values():
        histogram.clear()
    first = await _mark(control, arm=True)
    before = snapshot(participants)
    loop = asyncio.get_running_loop()
    later: dict[str, Any] = {}
    timer = loop.call_later(DELIVERY_SECONDS, lambda: later.update(snapshot(participants)))
    lag, hog = LoopLag(), Hog(plan.hog)
    lag.start()
    hog.start()
    drops0, cpu0, wall0 = udp_drops(), _cpu_s(), time.perf_counter()
    busy = os.getloadavg()[0]  # other work on the machine skews this window's figures
    await asyncio.sleep(seconds)
    cpu1, wall1, drops1 = _cpu_s(), time.perf_counter(), udp_drops()
    hog.stop()
    lag_p99 = lag.stop()
    e2e = {kind: histogram.summary() for kind, histogram in delays.items()}
    last = await _mark(control, arm=False)
    after = snapshot(participants)
    await asyncio.sleep(DELIVERY_SECONDS)
    timer.cancel()  # a window shorter than DELIVERY_SECONDS: then `later` is empty
    return {
        "start": first,
        "end": last,
        "frames": frames_lost(before, after, later or None, snapshot(participants)),
        "problems": _trouble(participants, before, after),
        "e2e": e2e,
        "generator": {
            "cores": (cpu1 - cpu0) / (wall1 - wall0),
            "kernel_drops": None if drops0 is None or drops1 is None else drops1 - drops0,
            "loop_lag_p99_ms": lag_p99,
            "loop_lag_max_ms": lag.worst_ms,
            "loadavg_1min": busy,
        },
    }


def lost_pct(frames: dict[str, dict[str, int]]) -> float:
    """The larger of the kinds' shares of frames lost (expected but not received), %."""
    rows = [r for r in frames.values() if r["expected"]]
    if not rows:
        return 100.0
    return max(100.0 * (r["expected"] - r["received"]) / r["expected"] for r in rows)


async def _windows(
    plan: Plan, control: Control, participants: list[Participant], delays: dict[str, Histogram]
) -> dict[str, Any]:
    """Everything, then (unless the first window says the server is saturated) each kind
    alone, the other paused."""
    windows = {"all": await _window(plan, control, participants, plan.duration, delays)}
    if plan.give_up_pct is not None and lost_pct(windows["all"]["frames"]) >= plan.give_up_pct:
        return windows
    if plan.kind_seconds > 0:
        for kind, other in (KINDS, KINDS[::-1]):
            for p in participants:
                p.pause(kind, False)
                p.pause(other, True)
            await asyncio.sleep(SETTLE_SECONDS)
            windows[kind] = await _window(plan, control, participants, plan.kind_seconds, delays)
    return windows


async def run_load(plan: Plan) -> dict[str, Any]:
    delays: dict[str, Histogram] = {kind: Histogram() for kind in KINDS}

    def participant(principal: str) -> Participant:
        camera, microphone = Replay(plan.video, plan.mark), Replay(plan.audio, plan.mark)
        return Participant(principal, camera, microphone, delays)

    participants = [participant(CENTRAL)]
    participants += [participant(f"e{i}") for i in range(1, plan.endpoints + 1)]
    control = None
    try:
        problems = await _warm_up(plan, participants)
        if problems and plan.give_up_pct is not None:
            return {"problems": problems, "windows": {}}
        control = await _control(plan.port)
        return {
            "problems": problems,
            "windows": await _windows(plan, control, participants, delays),
        }
    finally:
        if control is not None:
            control[1].close()
        await asyncio.gather(*(p.close() for p in participants), return_exceptions=True)


def generate(plan: Plan, pipe: Connection) -> None:
    """Process entry point: run the load and send its result (or error) on `pipe`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    logging.basicConfig(level=logging.WARNING)
    loopback_only()
    try:
        result = asyncio.run(run_load(plan))
    except Exception as exc:
        pipe.send({"error": f"{type(exc).__name__}: {exc}"})
    else:
        pipe.send(result)
