"""The benchmark's plumbing between processes: JSON lines over loopback TCP.

A connection's first line says what it is: `{"role": "client", "principal": ...}` for a
participant's signaling (then PROTOCOL.md messages, one per line, both ways) or
`{"role": "control"}` for the load process asking the server for its measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

LOOPBACK = "127.0.0.1"
LINE_LIMIT = 1 << 20  # an SDP offer with many m-lines is tens of kilobytes


def loopback_only() -> None:
    """Make every aiortc peer connection of this process gather one host candidate, on
    127.0.0.1: the benchmark never leaves the machine. (aioice skips loopback by default.)"""
    import aioice.ice

    def loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [LOOPBACK]

    aioice.ice.get_host_addresses = loopback_addresses


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next JSON object, or None at the end of the stream."""
    line = await reader.readline()
    if not line:
        return None
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {line[:60]!r}")
    return message


async def write_message(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()


class LineTransport:
    """A `SignalingTransport` over one TCP stream."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def send(self, message: dict[str, Any]) -> None:
        await write_message(self._writer, message)

    async def close(self, reason: str) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
