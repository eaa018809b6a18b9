"""The baseline: an aiortc relay that decodes every published track and re-encodes it for
each subscriber (aiortc's default receiver, `MediaRelay`, aiortc's encoders on send).

It speaks just enough of PROTOCOL.md for the load process (`join` → `joined`, `offer`,
`slots`; `answer`) and feeds the same kind of topology as the bridge with its default
policy in a quiet room: the central endpoint sees every endpoint (up to 9), each
endpoint sees the central one, and everyone hears the first three others.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from bridge.bench.stats import Histogram, sender_packets
from bridge.bench.wire import read_message, write_message
from bridge.contracts import TrackKind
from bridge.rtc import codec_preferences

VIDEO_SLOTS = 9  # main + 8 thumbnails for the central endpoint, as the bridge has
AUDIO_SLOTS = 3


@dataclass(eq=False)
class _Member:
    principal: str
    writer: asyncio.StreamWriter
    pc: RTCPeerConnection
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)  # kind -> track
    slots: list[tuple[str, RTCRtpTransceiver]] = field(default_factory=list)
    fed: dict[str, str | None] = field(default_factory=dict)  # slot name -> principal

    @property
    def central(self) -> bool:
        return self.principal == "central"


class TranscodeRelay:
    def __init__(self) -> None:
        self._relay = MediaRelay()
        self._members: list[_Member] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._latency = {"video": Histogram(), "audio": Histogram()}  # not measured here

    async def client(
        self, principal: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        join = await read_message(reader)
        if join is None or join.get("type") != "join":
            return
        pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        member = _Member(principal, writer, pc)
        self._members.append(member)
        try:
            await write_message(writer, {"type": "joined", "participant_id": principal})
            await write_message(writer, await self._offer(member))
            while (message := await read_message(reader)) is not None:
                if message.get("type") == "answer":
                    answer = RTCSessionDescription(str(message["sdp"]), "answer")
                    await pc.setRemoteDescription(answer)
        finally:
            if member in self._members:
                self._members.remove(member)
                await pc.close()

    async def _offer(self, member: _Member) -> dict[str, Any]:
        pc = member.pc
        publish = {}
        published: tuple[tuple[str, TrackKind], ...] = (
            ("microphone", "audio"),
            ("camera", "video"),
        )
        for source, kind in published:
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            transceiver.setCodecPreferences(codec_preferences(kind))
            publish[source] = transceiver
        video = ["main"] + [
            f"thumbnail{i}" for i in range(VIDEO_SLOTS - 1 if member.central else 0)
        ]
        names: list[tuple[str, TrackKind]] = [(n, "video") for n in video]
        names += [(f"audio{i}", "audio") for i in range(AUDIO_SLOTS)]
        for name, kind in names:
            transceiver = pc.addTransceiver(kind, direction="sendonly")
            transceiver.setCodecPreferences(codec_preferences(kind))
            member.slots.append((name, transceiver))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            member.tracks[track.kind] = track
            self._rewire()

        await pc.setLocalDescription(await pc.createOffer())
        return {
            "type": "offer",
            "sdp": pc.localDescription.sdp,
            "publish": {source: t.mid for source, t in publish.items()} | {"screen": None},
            "slots": [{"mid": t.mid, "slot": n, "kind": t.kind} for n, t in member.slots],
        }

    def _wanted(self, viewer: _Member) -> dict[str, _Member]:
        """Which member feeds each slot of `viewer`."""
        others = [m for m in self._members if m is not viewer]
        video = [m for m in others if not m.central] if viewer.central else []
        video += [m for m in others if m.central]
        wanted = dict(zip([n for n, t in viewer.slots if t.kind == "video"], video, strict=False))
        audio = [n for n, t in viewer.slots if t.kind == "audio"]
        return wanted | dict(zip(audio, others, strict=False))

    def _rewire(self) -> None:
        for viewer in self._members:
            wanted = self._wanted(viewer)
            changed = False
            for name, transceiver in viewer.slots:
                source = wanted.get(name)
                track = None if source is None else source.tracks.get(transceiver.kind)
                principal = None if track is None or source is None else source.principal
                if viewer.fed.get(name) != principal:
                    viewer.fed[name] = principal
                    transceiver.sender.replaceTrack(
                        None if track is None else self._relay.subscribe(track)
                    )
                    changed = True
            if changed:
                self._announce(viewer)

    def _announce(self, viewer: _Member) -> None:
        slots = [
            {"mid": t.mid, "slot": n, "kind": t.kind, "participant_id": viewer.fed.get(n)}
            for n, t in viewer.slots
        ]
        task = asyncio.create_task(write_message(viewer.writer, {"type": "slots", "slots": slots}))
        self._writers.add(task)
        task.add_done_callback(self._writers.discard)

    def arm(self) -> None:
        pass

    async def counters(self) -> dict[str, Any]:
        packets_out = {"audio": 0, "video": 0}
        packets_in = 0
        for member in list(self._members):
            for _, transceiver in member.slots:
                packets_out[transceiver.kind] += await sender_packets(transceiver)
            for transceiver in member.pc.getTransceivers():
                report = await transceiver.receiver.getStats()
                packets_in += sum(
                    int(s.packetsReceived) for s in report.values() if s.type == "inbound-rtp"
                )
        return {
            "slot_drops": 0,
            "participants": len(self._members),
            "packets_in": packets_in,
            "packets_out": packets_out,
            "latency": {kind: h.summary() for kind, h in self._latency.items()},
        }

    async def stop(self) -> None:
        members, self._members = list(self._members), []
        for member in members:
            await member.pc.close()
        for task in list(self._writers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
