"""HTTP range requests (RFC 9110, section 14) for stored media: one implementation.

What is served:
- no `Range` header, or a unit other than `bytes` (ignored, as RFC 9110 allows): 200 and
  the whole object;
- one range, `bytes=a-b`, `bytes=a-` or `bytes=-n`: 206 with `Content-Range` and exactly
  those bytes (an end past the object is cut to its last byte, `-n` longer than the object
  is the whole object);
- a range that starts past the end (or `bytes=-0`, or any range of an empty object): 416
  with `Content-Range: bytes */SIZE`;
- several ranges (`bytes=0-1,5-9`) or a malformed specifier: 400 naming the `Range` field.
  A player asks for one range at a time; answering several with the whole two-hour file
  would hide the client's mistake behind a large transfer;
- `If-Range` with the object's ETag (the strong `"sha256"`) keeps the range; any other
  value (another ETag, a date: no Last-Modified is given) asks for the whole object: 200.

`Accept-Ranges: bytes` and the ETag are on every answer. The file is read in chunks from
disk in worker threads, never whole.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from web import inbound
from web.errors import BadRequest, json_error

CHUNK = 256 * 1024
_SPEC = re.compile(r"^([0-9]{0,19})-([0-9]{0,19})$")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes `start` to `end`, both included."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class Unsatisfiable(Exception):
    """The one range asked for lies outside the object."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range a `Range` header asks of an object of `size` bytes; None: the whole object.
    Raises BadRequest (several ranges, malformed) or Unsatisfiable."""
    if header is None:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep:
        raise BadRequest("Tiêu đề Range không hợp lệ.", {"Range": "phải có dạng bytes=đầu-cuối"})
    if unit.strip().lower() != "bytes":
        return None  # a unit we do not serve: ignored
    if "," in spec:
        raise BadRequest(
            "Chỉ hỗ trợ một khoảng byte mỗi yêu cầu.", {"Range": "chỉ được một khoảng"}
        )
    match = _SPEC.fullmatch(spec.strip())
    if match is None or match[0] == "-":
        raise BadRequest("Tiêu đề Range không hợp lệ.", {"Range": "phải có dạng bytes=đầu-cuối"})
    first, last = match[1], match[2]
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        raise BadRequest("Tiêu đề Range không hợp lệ.", {"Range": "byte cuối đứng trước byte đầu"})
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(end, size - 1))


def etag_of(sha256: str | None) -> str | None:
    return f'"{sha256}"' if sha256 else None


def wanted_range(request: web.Request, size: int, etag: str | None) -> ByteRange | None:
    """The range to serve, after `If-Range`: a validator other than our ETag, the whole."""
    raw = inbound.header(request, "Range", 200)
    if raw is None and inbound.has(request, "Range"):
        raise BadRequest("Tiêu đề Range không hợp lệ.", {"Range": "không đọc được"})
    if raw is None:
        return None
    if_range = inbound.header(request, "If-Range", 200)
    if inbound.has(request, "If-Range") and (if_range is None or if_range.strip() != etag):
        return None
    return parse_range(raw, size)


def unsatisfiable(size: int, etag: str | None) -> web.Response:
    response = json_error(
        416,
        "range_not_satisfiable",
        f"Khoảng byte yêu cầu nằm ngoài tệp ({size} byte).",
        {"Range": f"tệp có {size} byte"},
    )
    response.headers["Content-Range"] = f"bytes */{size}"
    response.headers["Accept-Ranges"] = "bytes"
    if etag:
        response.headers["ETag"] = etag
    return response


async def serve_file(
    request: web.Request,
    path: Path,
    size: int,
    etag: str | None,
    headers: dict[str, str],
) -> web.StreamResponse:
    """The file at `path` (`size` bytes), whole or the range asked for. `headers` (type,
    disposition...) go on the answer. A range error is answered before the file is opened."""
    try:
        want = wanted_range(request, size, etag)
    except Unsatisfiable:
        return unsatisfiable(size, etag)
    f = await asyncio.to_thread(path.open, "rb")
    try:
        response = web.StreamResponse(status=200 if want is None else 206, headers=headers)
        response.headers["Accept-Ranges"] = "bytes"
        if etag:
            response.headers["ETag"] = etag
        start, length = 0, size
        if want is not None:
            start, length = want.start, want.length
            response.headers["Content-Range"] = f"bytes {want.start}-{want.end}/{size}"
        response.content_length = length
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        await asyncio.to_thread(f.seek, start)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, left))
            if not chunk:
                break  # the file shrank under us: the client sees a short body
            await response.write(chunk)
            left -= len(chunk)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(f.close)
