"""Helpers for the recording tests: a participant that joins a session over the app's
WebSocket with a real aiortc peer publishing synthetic VP8 and Opus (tests/bridge/bridgekit's
`Endpoint`), an agenda for the demo session, ffprobe, the stored files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sessions.db import transaction
from sessions.models import AgendaItem, CaseFile, ReceptionSession
from tests.bridge.bridgekit import Endpoint
from tests.bridge.bridgekit_media import Clip, opus_clip, vp8_clip
from tests.support import wait_for


class WsParticipant:
    """Joins over the WebSocket, answers the bridge's offer with a publishing peer, and
    keeps every message the bridge sends."""

    def __init__(self, ws: ClientWebSocketResponse, seed: int) -> None:
        self.ws = ws
        self.seed = seed
        self.messages: list[dict[str, Any]] = []
        self.endpoint: Endpoint | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(
        cls,
        ws: ClientWebSocketResponse,
        seed: int = 100,
        video: Clip | None = None,
        audio_level: int = 127,
    ) -> WsParticipant:
        """`video` replaces the seeded clip; `audio_level` is the RFC 6464 level (0 loudest,
        127 silence) on the microphone's packets."""
        p = cls(ws, seed)
        await ws.send_json({"type": "join"})
        offer = await p.expect("offer")
        p.endpoint = Endpoint(video or vp8_clip(seed), opus_clip())
        p.endpoint.microphone.level = audio_level
        for slot in offer["slots"]:
            p.endpoint.slots[slot["slot"]] = slot
        answer = await p.endpoint.answer(offer["sdp"], offer["publish"])
        await ws.send_json({"type": "answer", "sdp": answer})
        return p

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    def find(self, kind: str, **match: Any) -> dict[str, Any] | None:
        for m in self.messages:
            if m.get("type") == kind and all(m.get(k) == v for k, v in match.items()):
                return m
        return None

    async def expect(self, kind: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        await wait_for(
            lambda: self.find(kind, **match) is not None,
            f"a {kind!r} message {match} (got {[m.get('type') for m in self.messages]})",
            timeout,
        )
        found = self.find(kind, **match)
        assert found is not None
        return found

    @property
    def frames_sent(self) -> int:
        return 0 if self.endpoint is None else len(self.endpoint.camera.sent)

    async def media_for(self, frames: int, timeout: float = 20.0) -> None:
        """Wait until `frames` more video frames (30 a second) have gone out."""
        target = self.frames_sent + frames
        await wait_for(lambda: self.frames_sent >= target, f"{frames} video frames sent", timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        if self.endpoint is not None:
            await self.endpoint.close()


async def add_agenda(
    db: async_sessionmaker[AsyncSession], codes: list[str]
) -> tuple[int, dict[str, int]]:
    """Put the demo cases `codes` on the demo session's agenda, in order, heard at the
    central endpoint. Returns the session's id and the case ids by code."""
    async with transaction(db) as s:
        session = await s.scalar(select(ReceptionSession))
        assert session is not None
        ids = {c.code: c.id for c in await s.scalars(select(CaseFile))}
        for position, code in enumerate(codes, 1):
            s.add(
                AgendaItem(
                    session_id=session.id,
                    position=position,
                    case_id=ids[code],
                    endpoint_id=session.central_endpoint_id,
                )
            )
        return session.id, ids


def ffprobe(path: Path) -> dict[str, Any]:
    """What ffprobe (not our code) says about a file."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def probed_duration(path: Path) -> float:
    return float(ffprobe(path)["format"]["duration"])


def flip_byte(path: Path) -> None:
    """Alter one byte of a stored (read-only) file in place."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
