"""Who receives what: pure decisions over a snapshot of the room, tested on their own.

- The central endpoint (điểm cầu trung tâm) sees every endpoint that has the floor, is
  speaking or is pinned by the chair, up to its number of video slots.
- An endpoint sees the central endpoint plus whoever has the floor or is the dominant
  speaker; the floor holder takes the main picture everywhere but on its own screen.
- Everyone hears the floor holder and the loudest few others (RFC 6464 levels), never
  themselves, except a loopback member (a readiness check's test room), which gets exactly
  its own camera and microphone back.
- The dominant speaker changes only after a clearly louder voice holds for a few ticks
  (hysteresis), so pictures do not flicker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SILENCE = 127


@dataclass(frozen=True, slots=True)
class Member:
    """What the policy needs to know about one participant."""

    participant_id: str
    is_central: bool = False
    camera: bool = True  # publishes camera video now
    microphone: bool = True  # publishes sound now (not muted)
    screen: bool = False  # shares a screen now
    loopback: bool = False  # receives its own camera and microphone (a test room)


@dataclass(frozen=True, slots=True)
class RoomView:
    members: tuple[Member, ...]  # in join order
    floor: str | None = None
    pinned: tuple[str, ...] = ()
    dominant: str | None = None
    speaking: frozenset[str] = frozenset()
    loudest: tuple[str, ...] = ()  # members ranked loudest first
    screens: tuple[str, ...] = ()  # screen sharers, most recent last


@dataclass(frozen=True, slots=True)
class Wanted:
    """The sources (participant ids) one viewer should receive."""

    main: str | None = None
    thumbnails: tuple[str, ...] = ()
    screen: str | None = None
    audio: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceivePolicy:
    thumbnails: int
    central_thumbnails: int
    audio: int
    fill_idle: bool = True  # the central endpoint sees idle endpoints in spare slots

    def wanted(self, view: RoomView, viewer: Member) -> Wanted:
        me = viewer.participant_id
        if viewer.loopback:  # a readiness check: only one's own media, back through the bridge
            return Wanted(
                me if viewer.camera else None, (), None, (me,) if viewer.microphone else ()
            )
        cameras = {m.participant_id for m in view.members if m.camera and m.participant_id != me}
        if viewer.is_central:
            video = self._central_video(view, cameras)
            cap = self.central_thumbnails
        else:
            video = self._endpoint_video(view, cameras)
            cap = self.thumbnails
        main = video[0] if video else None
        screen = next((p for p in reversed(view.screens) if p != me), None)
        return Wanted(main, tuple(video[1 : 1 + cap]), screen, self._audio(view, me))

    def _central_video(self, view: RoomView, cameras: set[str]) -> list[str]:
        endpoints = [m.participant_id for m in view.members if not m.is_central]
        speaking = [m.participant_id for m in view.members if m.participant_id in view.speaking]
        order = [view.floor, view.dominant, *view.pinned, *speaking]
        if self.fill_idle:  # then the other endpoints, in join order, while slots remain
            order += endpoints
        return _unique(p for p in order if p in cameras and p in endpoints)

    def _endpoint_video(self, view: RoomView, cameras: set[str]) -> list[str]:
        centrals = [m.participant_id for m in view.members if m.is_central]
        if view.floor in cameras:
            order = [view.floor, view.dominant, *centrals]
        else:  # nobody else has the floor: the chair's picture leads
            order = [*centrals, view.dominant]
        return _unique(p for p in order if p in cameras)

    def _audio(self, view: RoomView, me: str) -> tuple[str, ...]:
        audible = {
            m.participant_id for m in view.members if m.microphone and m.participant_id != me
        }
        order = _unique(p for p in [view.floor, *view.loudest] if p in audible)
        return tuple(order[: self.audio])


def _unique(items: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item is not None:
            seen.setdefault(item)
    return list(seen)


def assign(current: Sequence[str | None], wanted: Sequence[str]) -> list[str | None]:
    """Fill a row of slots with `wanted` sources, leaving a source in the slot it already
    has (no needless switch, and no key frame wait), and emptying slots no longer wanted."""
    keep = set(wanted)
    out: list[str | None] = [s if s in keep else None for s in current]
    placed = {s for s in out if s is not None}
    free = (i for i, s in enumerate(out) if s is None)
    for source in wanted:
        if source in placed:
            continue
        index = next(free, None)
        if index is None:
            break
        out[index] = source
    return out


@dataclass
class SpeakerDetector:
    """Smooths audio levels per participant and picks a dominant speaker with hysteresis.

    Levels are RFC 6464 values (0 loudest, 127 silence); loudness is 127 - level, in dB.
    """

    speaking_level: int
    smoothing: float
    margin: float
    hold_ticks: int
    loudness: dict[str, float] = field(default_factory=dict)
    dominant: str | None = None
    _challenger: str | None = None
    _streak: int = 0

    def update(self, levels: Mapping[str, int]) -> bool:
        """Take one tick of mean levels per participant; return whether the dominant
        speaker changed. Participants absent from `levels` are forgotten."""
        a = self.smoothing
        self.loudness = {
            pid: a * (SILENCE - level) + (1 - a) * self.loudness.get(pid, 0.0)
            for pid, level in levels.items()
        }
        before = self.dominant
        if self.dominant not in self.loudness:
            self.dominant = None
        self._contest()
        return self.dominant != before

    def _contest(self) -> None:
        speaking = self.speaking
        ranked = [p for p in self.ranking() if p in speaking]
        leader = ranked[0] if ranked else None
        if leader is None or leader == self.dominant:
            self._challenger, self._streak = None, 0
            return
        if self.dominant is None:
            self.dominant = leader
            return
        lead = self.loudness[leader] - self.loudness[self.dominant]
        if lead < self.margin:
            self._challenger, self._streak = None, 0
            return
        self._streak = self._streak + 1 if leader == self._challenger else 1
        self._challenger = leader
        if self._streak >= self.hold_ticks:
            self.dominant, self._challenger, self._streak = leader, None, 0

    @property
    def speaking(self) -> frozenset[str]:
        threshold = SILENCE - self.speaking_level
        return frozenset(p for p, loud in self.loudness.items() if loud >= threshold)

    def ranking(self) -> tuple[str, ...]:
        """Participants loudest first (ties in a stable order)."""
        return tuple(sorted(self.loudness, key=lambda p: -self.loudness[p]))
