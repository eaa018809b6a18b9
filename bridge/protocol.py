"""The signaling messages a client sends, parsed into typed requests (see PROTOCOL.md).

Parsing is pure and strict: a wrong or missing field raises `ProtocolError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from bridge.errors import ProtocolError

MAX_ID = 200  # characters in a participant or agenda item id
MAX_REQUEST_ID = 64

T = TypeVar("T", bound=str)

MuteSource = Literal["microphone", "camera"]
AgendaAction = Literal["next", "previous", "goto"]
MUTE_SOURCES: tuple[MuteSource, ...] = ("microphone", "camera")
AGENDA_ACTIONS: tuple[AgendaAction, ...] = ("next", "previous", "goto")


def _field(msg: Mapping[str, object], key: str) -> object:
    if key not in msg:
        raise ProtocolError(f"field {key!r} is missing")
    return msg[key]


def req_str(msg: Mapping[str, object], key: str, max_len: int = MAX_ID) -> str:
    value = _field(msg, key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"field {key!r} must be a non-empty string")
    if len(value) > max_len:
        raise ProtocolError(f"field {key!r} is longer than {max_len} characters")
    return value


def opt_str(msg: Mapping[str, object], key: str, max_len: int = MAX_ID) -> str | None:
    if msg.get(key) is None:
        return None
    return req_str(msg, key, max_len)


def req_bool(msg: Mapping[str, object], key: str) -> bool:
    value = _field(msg, key)
    if not isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be true or false")
    return value


def req_choice(msg: Mapping[str, object], key: str, choices: tuple[T, ...]) -> T:
    value = _field(msg, key)
    for choice in choices:
        if value == choice:
            return choice
    raise ProtocolError(f"field {key!r} must be one of {', '.join(choices)}; got {value!r}")


def echoable(value: str, max_len: int) -> str | None:
    """`value` cut to `max_len`, fit to be sent back; None when it holds a lone surrogate
    (JSON may escape one), which a WebSocket text frame cannot carry."""
    value = value[:max_len]
    return None if any("\ud800" <= c <= "\udfff" for c in value) else value


def request_id(msg: Mapping[str, object]) -> str | int | None:
    """The optional `id` a client puts on a request, echoed in errors about it."""
    value = msg.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return value if not isinstance(value, str) else echoable(value, MAX_REQUEST_ID)


@dataclass(frozen=True, slots=True)
class Answer:
    sdp: str


@dataclass(frozen=True, slots=True)
class Candidate:
    candidate: str | None  # None: end of candidates
    sdp_mid: str | None
    mline: int | None


@dataclass(frozen=True, slots=True)
class Publish:
    active: bool  # the screen share started or stopped


@dataclass(frozen=True, slots=True)
class Mute:
    source: MuteSource
    muted: bool
    target: str | None  # None: the sender itself


@dataclass(frozen=True, slots=True)
class Floor:
    target: str | None  # None: nobody has the floor


@dataclass(frozen=True, slots=True)
class Pin:
    target: str
    pinned: bool


@dataclass(frozen=True, slots=True)
class Recording:
    active: bool


@dataclass(frozen=True, slots=True)
class Agenda:
    action: AgendaAction
    item_id: str | None


@dataclass(frozen=True, slots=True)
class Remove:
    target: str


ChairRequest = Floor | Pin | Recording | Agenda | Remove | Mute


def parse_answer(msg: Mapping[str, object], max_sdp: int) -> Answer:
    return Answer(req_str(msg, "sdp", max_sdp))


def parse_candidate(msg: Mapping[str, object]) -> Candidate:
    raw = _field(msg, "candidate")
    if raw is None:
        return Candidate(None, None, None)
    if not isinstance(raw, Mapping):
        raise ProtocolError("field 'candidate' must be an object or null")
    text = req_str(raw, "candidate", 1000) if raw.get("candidate") != "" else None
    mline = raw.get("sdpMLineIndex")
    if mline is not None and (isinstance(mline, bool) or not isinstance(mline, int)):
        raise ProtocolError("field 'candidate.sdpMLineIndex' must be an integer or null")
    sdp_mid = opt_str(raw, "sdpMid", 32)
    if text is not None and sdp_mid is None and mline is None:
        raise ProtocolError("a candidate needs 'sdpMid' or 'sdpMLineIndex'")
    return Candidate(text, sdp_mid, mline)


def parse_publish(msg: Mapping[str, object]) -> Publish:
    req_choice(msg, "source", ("screen",))
    return Publish(req_bool(msg, "active"))


def parse_mute(msg: Mapping[str, object]) -> Mute:
    source = req_choice(msg, "source", MUTE_SOURCES)
    return Mute(source, req_bool(msg, "muted"), opt_str(msg, "participant_id"))


def parse_floor(msg: Mapping[str, object]) -> Floor:
    _field(msg, "participant_id")
    return Floor(opt_str(msg, "participant_id"))


def parse_pin(msg: Mapping[str, object]) -> Pin:
    return Pin(req_str(msg, "participant_id"), req_bool(msg, "pinned"))


def parse_recording(msg: Mapping[str, object]) -> Recording:
    return Recording(req_bool(msg, "active"))


def parse_agenda(msg: Mapping[str, object]) -> Agenda:
    action = req_choice(msg, "action", AGENDA_ACTIONS)
    item = msg.get("item_id")
    if isinstance(item, int) and not isinstance(item, bool):
        item = str(item)
    item_id = opt_str({"item_id": item}, "item_id")
    if action == "goto" and item_id is None:
        raise ProtocolError("field 'item_id' is required when action is 'goto'")
    return Agenda(action, item_id)


def parse_remove(msg: Mapping[str, object]) -> Remove:
    return Remove(req_str(msg, "participant_id"))
