"""Who receives what, and dominant speaker hysteresis: pure decisions."""

from __future__ import annotations

from bridge.policy import Member, ReceivePolicy, RoomView, SpeakerDetector, Wanted, assign

POLICY = ReceivePolicy(thumbnails=2, central_thumbnails=3, audio=2)
CHAIR = Member("chair", is_central=True)
A, B, C, D = (Member(p) for p in ("a", "b", "c", "d"))
ROOM = (CHAIR, A, B, C, D)


def view(**kwargs: object) -> RoomView:
    return RoomView(ROOM, **kwargs)  # type: ignore[arg-type]


def test_an_endpoint_sees_the_chair_when_nobody_has_the_floor() -> None:
    assert POLICY.wanted(view(), A) == Wanted("chair", (), None, ())
    assert POLICY.wanted(view(loudest=("a", "chair", "b", "c")), A).audio == ("chair", "b")


def test_an_endpoint_sees_the_floor_holder_and_the_dominant_speaker() -> None:
    wanted = POLICY.wanted(view(floor="b", dominant="c"), A)
    assert (wanted.main, wanted.thumbnails) == ("b", ("c", "chair"))


def test_the_floor_holder_sees_the_chair() -> None:
    wanted = POLICY.wanted(view(floor="b", dominant="c"), B)
    assert (wanted.main, wanted.thumbnails) == ("chair", ("c",))


def test_the_central_endpoint_sees_floor_speakers_and_pins_up_to_its_cap() -> None:
    strict = ReceivePolicy(2, 2, 2, fill_idle=False)
    v = view(floor="d", pinned=("a",), speaking=frozenset({"c", "chair"}), dominant="c")
    wanted = strict.wanted(v, CHAIR)
    assert (wanted.main, wanted.thumbnails) == ("d", ("c", "a"))
    assert strict.wanted(view(), CHAIR).main is None


def test_the_central_endpoint_fills_spare_slots_with_idle_endpoints() -> None:
    wanted = POLICY.wanted(view(pinned=("c",)), CHAIR)
    assert (wanted.main, wanted.thumbnails) == ("c", ("a", "b", "d"))


def test_no_camera_no_picture() -> None:
    members = (CHAIR, Member("a", camera=False), B)
    wanted = POLICY.wanted(RoomView(members, floor="a"), B)
    assert wanted.main == "chair"


def test_audio_is_the_floor_and_the_loudest_others_never_oneself_nor_the_muted() -> None:
    members = (CHAIR, A, B, Member("c", microphone=False), D)
    v = RoomView(members, floor="d", loudest=("a", "c", "b", "chair", "d"))
    assert POLICY.wanted(v, A).audio == ("d", "b")
    assert POLICY.wanted(v, D).audio == ("a", "b")


def test_the_latest_screen_share_of_someone_else() -> None:
    v = view(screens=("b", "a"))
    assert POLICY.wanted(v, B).screen == "a"
    assert POLICY.wanted(v, A).screen == "b"


def test_assign_keeps_sources_in_their_slots() -> None:
    assert assign([None, None, None], ["a", "b"]) == ["a", "b", None]
    assert assign(["a", "b", None], ["b", "c"]) == ["c", "b", None]
    assert assign(["a", "b"], ["c", "d", "e"]) == ["c", "d"]
    assert assign(["a"], []) == [None]


def detector() -> SpeakerDetector:
    return SpeakerDetector(speaking_level=60, smoothing=1.0, margin=6, hold_ticks=3)


def test_the_first_speaker_becomes_dominant_at_once() -> None:
    d = detector()
    assert not d.update({"a": 127, "b": 127})
    assert d.dominant is None
    assert d.update({"a": 30, "b": 127})
    assert d.dominant == "a" and d.speaking == {"a"}


def test_a_slightly_louder_voice_does_not_take_over() -> None:
    d = detector()
    d.update({"a": 30, "b": 127})
    for _ in range(10):
        assert not d.update({"a": 30, "b": 27})  # 3 dB louder: under the margin
    assert d.dominant == "a"


def test_a_clearly_louder_voice_takes_over_only_after_holding() -> None:
    d = detector()
    d.update({"a": 30, "b": 127})
    assert not d.update({"a": 40, "b": 20})
    assert not d.update({"a": 40, "b": 20})
    assert not d.update({"a": 30, "b": 127}), "a burst of two ticks changes nothing"
    assert [d.update({"a": 127, "b": 25}) for _ in range(3)] == [False, False, True]
    assert d.dominant == "b"


def test_silence_keeps_the_last_speaker_and_leaving_clears_it() -> None:
    d = detector()
    d.update({"a": 30})
    assert not d.update({"a": 127, "b": 127})
    assert d.dominant == "a"
    assert d.update({"b": 127})
    assert d.dominant is None


def test_smoothing_and_ranking() -> None:
    d = SpeakerDetector(speaking_level=60, smoothing=0.5, margin=6, hold_ticks=1)
    d.update({"a": 27, "b": 127})
    assert d.loudness == {"a": 50.0, "b": 0.0}
    d.update({"a": 127, "b": 27})
    assert d.ranking() == ("b", "a")
