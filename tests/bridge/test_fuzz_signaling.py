"""Property-based fuzz of the signaling protocol: messages of every type the bridge knows
(its handler table, so a type added later is fuzzed too) with generated fields, sent by a
joined chair. The connection never raises, never answers "internal" (a handler that failed
on input), never closes except on a valid `leave`, sends only what a WebSocket can carry
(JSON text UTF-8 can encode), and a message its parser refuses gets the protocol's error.
Replay: TIEPDAN_FUZZ_SEED."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import given, seed
from hypothesis import strategies as st

from bridge import protocol
from bridge.config import BridgeConfig
from bridge.errors import ProtocolError
from bridge.signaling import _HANDLERS
from tests.bridge.bridgekit import Client, wait_until
from tests.bridge.conftest import ClientFactory
from tests.fuzzkit import FUZZ_SEED, JSON_VALUES, TEXT, fuzz_settings

FIELDS = [
    "sdp",
    "candidate",
    "source",
    "active",
    "muted",
    "participant_id",
    "pinned",
    "action",
    "item_id",
    "id",
]
CANDIDATES = st.one_of(
    JSON_VALUES,
    st.dictionaries(
        st.sampled_from(["candidate", "sdpMid", "sdpMLineIndex"]), JSON_VALUES, max_size=3
    ),
)
NEAR_VALID = {
    "source": st.sampled_from(["screen", "microphone", "camera", "nose", "", None, 1]),
    "participant_id": st.sampled_from(["chair", "xa-1", "ghost", "", None, 7, "\ud800"]),
    "action": st.sampled_from(["next", "previous", "goto", "jump", None]),
    "item_id": st.one_of(st.integers(), st.sampled_from(["1", "x" * 300, None])),
    "candidate": CANDIDATES,
    "id": st.sampled_from(["r-1", 1, "\ud800", "x" * 100, 2**70]),
}


def _value(name: str) -> st.SearchStrategy[Any]:
    near = NEAR_VALID.get(name)
    return st.one_of(near, JSON_VALUES) if near is not None else JSON_VALUES


@st.composite
def messages(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True))
    return {"type": kind, **{n: draw(_value(n)) for n in names}}


def _parser(kind: str) -> Callable[[Mapping[str, object]], object] | None:
    if kind == "answer":
        return lambda m: protocol.parse_answer(m, BridgeConfig().max_sdp_chars)
    parse: Callable[[Mapping[str, object]], object] | None = getattr(
        protocol, f"parse_{kind}", None
    )
    return parse


def _refused_by_parser(kind: str, message: dict[str, Any]) -> bool:
    parse = _parser(kind)
    if parse is None:
        return False
    try:
        parse(message)
    except ProtocolError:
        return True
    return False


async def _settled(c: Client) -> None:
    await wait_until(lambda: c.conn._outbox.empty(), "the outbox drained")


@seed(FUZZ_SEED)
@fuzz_settings(max_examples=10)
@given(data=st.data())
async def test_fuzz_every_message_type(client: ClientFactory, data: st.DataObject) -> None:
    chair = await client("chair", central=True, chair=True)
    await client("xa-1")
    kinds = sorted(_HANDLERS)
    assert {"join", "answer", "ice", "mute", "floor", "agenda"} <= set(kinds)
    unknown = data.draw(TEXT.filter(lambda t: t not in _HANDLERS), label="an unknown type")
    for kind in data.draw(st.permutations([*kinds, unknown]), label="order"):
        message: Any = data.draw(
            st.one_of(messages(kind), st.just(None), JSON_VALUES)
            if kind == "join"
            else messages(kind),
            label=kind,
        )
        sent_before = len(chair.transport.sent)
        await chair.send(message)  # raises nothing, whatever the message
        await _settled(chair)
        replies = chair.transport.sent[sent_before:]
        for reply in replies:
            json.dumps(reply, ensure_ascii=False).encode("utf-8")  # what the socket sends
        errors = [r for r in replies if r.get("type") == "error"]
        assert not [e for e in errors if e["code"] == "internal"], (message, errors)
        if isinstance(message, dict) and _refused_by_parser(kind, message):
            assert errors, f"no error for {message!r}: {replies}"
        if chair.transport.closed is not None:
            assert kind == "leave", (message, chair.transport.closed, replies)
            chair = await client("chair", admit=False)


async def test_what_a_client_sent_is_echoed_only_when_a_socket_can_carry_it(
    client: ClientFactory,
) -> None:
    """Found by the fuzz: a type or request id holding a lone surrogate (JSON escapes one)
    was echoed in the error as is, and the WebSocket could not encode the answer."""
    chair = await client("chair", central=True, chair=True)
    for message in ({"type": "\ud800", "id": "\udcff"}, {"type": "floor", "id": "a\ud800"}):
        count = len(chair.errors())
        await chair.send(message)
        await wait_until(lambda c=count: len(chair.errors()) > c, f"an error for {message!r}")  # type: ignore[misc]
        error = chair.errors()[-1]
        json.dumps(error, ensure_ascii=False).encode("utf-8")
        assert "id" not in error, error
