"""The few categories of error the bridge raises; `web/` and the signaling layer turn them
into protocol messages (STYLE 8). Each message names the bad input."""

from __future__ import annotations


class BridgeError(Exception):
    """Base class: `code` is a stable identifier a client can translate."""

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ProtocolError(BridgeError, ValueError):
    """A malformed signaling message: dropped, answered with an error, nothing changed."""

    code = "bad-message"


class Forbidden(BridgeError):
    """The sender's role does not allow the request (chair controls)."""

    code = "forbidden"


class NotFound(BridgeError):
    """The request names a participant or room that is not there."""

    code = "not-found"


class Conflict(BridgeError):
    """The request does not fit the current state (not joined yet, replaced, ...)."""

    code = "conflict"
