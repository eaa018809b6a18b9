"""A test room with loopback: a readiness check gets its own camera and microphone back."""

from __future__ import annotations

from bridge.contracts import Admission
from bridge.policy import Member, ReceivePolicy, RoomView, Wanted
from tests.bridge.bridgekit import FakeAuthorizer, is_run_of, wait_until
from tests.bridge.conftest import ClientFactory

POLICY = ReceivePolicy(thumbnails=2, central_thumbnails=3, audio=2)


def test_a_loopback_member_gets_only_its_own_media() -> None:
    me = Member("check", loopback=True)
    other = Member("other", is_central=True)
    view = RoomView((other, me), floor="other", loudest=("other", "check"))
    assert POLICY.wanted(view, me) == Wanted("check", (), None, ("check",))
    assert POLICY.wanted(view, other).audio == ("check",), "others keep the usual policy"


def test_a_loopback_member_without_camera_or_microphone_gets_nothing() -> None:
    me = Member("check", camera=False, microphone=False, loopback=True)
    assert POLICY.wanted(RoomView((me,)), me) == Wanted(None, (), None, ())


def test_without_loopback_one_never_gets_ones_own_media() -> None:
    me = Member("check")
    assert POLICY.wanted(RoomView((me,)), me) == Wanted(None, (), None, ())


async def test_the_bridge_sends_a_loopback_participant_its_own_frames(
    client: ClientFactory, authorizer: FakeAuthorizer
) -> None:
    authorizer.admissions["check"] = Admission("check", "Kiểm tra", 7, False, False, loopback=True)
    me = await client("check", admit=False)
    await wait_until(lambda: me.source_of("main") == "check", lambda: str(me.transport.sent[-3:]))
    await wait_until(lambda: len(me.ep.slot("main").frames) >= 10, "10 frames back in main")
    assert is_run_of(me.ep.slot("main").frames, me.ep.camera.sent), "its own frames, untouched"
    await wait_until(lambda: me.source_of("audio0") == "check", "its own sound back")
