"""The bridge's and the recorder's figures on /metrics, read when Prometheus scrapes.

Nothing here runs per packet: at each scrape the bridge collector asks the bridge for its
counters (`Bridge.stats`, the `bridge.contracts.StatsSource` contract) and the recorder
collector asks the recording service for its tracks' (`track_stats`); what only the
database and the spool know (track files by state, the last integrity check, uploads not
finished) is read by `refresh()` just before.

Labels are opaque ids only: a room (`session-12`), a participant (`acct-7`), a track's
source. Never a display name, a citizen's or a denouncer's name, or anything from a case
(DOMAIN.md). Per-participant and per-track series exist only while the participant is in a
room or the track is being recorded, so their number stays bounded by what is live. The
bridge's counters are per peer connection: a reconnection starts them afresh, which
Prometheus' `rate()` reads as a counter reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from aiohttp import web
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge import BridgeStats, ParticipantStats, StatsSource
from recording import TrackRecorderStats
from recording.journal import list_journals
from sessions import archive
from sessions import recordings as recs
from sessions.models import RecordingState
from web.keys import DB, METRICS
from web.live import LIVE
from web.metrics import ScrapeCollector
from web.recordings import RECORDINGS

log = logging.getLogger("tiepdan.metrics")

PARTICIPANT = ("room", "participant")
TRACK = ("room", "participant", "source")

# (name, help, the ParticipantStats field): one counter family each, per participant.
BRIDGE_COUNTERS: tuple[tuple[str, str, Callable[[ParticipantStats], int]], ...] = (
    ("packets_in", "RTP packets received from the participant", lambda p: p.packets_in),
    ("bytes_in", "Encoded payload bytes received from the participant", lambda p: p.bytes_in),
    (
        "media_packets_in",
        "Media packets received from the participant, retransmissions not counted",
        lambda p: p.media_packets_received,
    ),
    (
        "packets_lost",
        "Media packets of the participant's tracks never received (RFC 3550 A.3)",
        lambda p: p.packets_lost,
    ),
    ("packets_out", "RTP packets sent to the participant", lambda p: p.packets_out),
    ("bytes_out", "Encoded frame bytes sent to the participant", lambda p: p.bytes_out),
    (
        "frames_dropped",
        "Frames the participant's receive slots dropped (it fell behind, or a switch)",
        lambda p: p.frames_dropped,
    ),
    (
        "nacks_sent",
        "NACK messages the bridge sent the participant about its media",
        lambda p: p.nacks_sent,
    ),
    (
        "nacked_packets",
        "Packets the participant asked again (its NACKs) of what it receives",
        lambda p: p.nacked_packets,
    ),
    (
        "keyframe_requests_sent",
        "Key-frame requests (PLI) the bridge sent the participant",
        lambda p: p.keyframe_requests_sent,
    ),
    (
        "keyframe_requests_received",
        "Key-frame requests (PLI/FIR) the participant sent the bridge",
        lambda p: p.keyframe_requests_received,
    ),
)


class RecorderSource(Protocol):
    """What the recorder collector reads of the recording service: `web.recordings`'
    `RecordingService` today (its `track_stats`), wherever it lives."""

    def track_stats(self) -> Sequence[TrackRecorderStats]: ...


class BridgeCollector:
    """The bridge's figures: rooms, participants, traffic both ways, NACKs, key-frame
    requests, loss per participant, the event loop's lag."""

    def __init__(self, source: StatsSource) -> None:
        self._source = source

    async def refresh(self) -> None:
        """Nothing to read ahead: the bridge's counters are read in `collect`."""

    def collect(self) -> Iterable[Metric]:
        stats = self._source.stats()
        yield GaugeMetricFamily("tiepdan_bridge_rooms", "Rooms open", value=len(stats.rooms))
        yield _participants(stats)
        yield from _traffic(stats)
        yield from _loop_lag(stats)


def _participants(stats: BridgeStats) -> Metric:
    family = GaugeMetricFamily(
        "tiepdan_bridge_participants", "Participants in a room, by state", labels=["room", "state"]
    )
    for room in stats.rooms:
        for state in ("connecting", "live", "away"):
            n = sum(1 for p in room.participants if p.state == state)
            family.add_metric([room.room_id, state], n)
    return family


def _traffic(stats: BridgeStats) -> Iterable[Metric]:
    rows = [(room.room_id, p) for room in stats.rooms for p in room.participants]
    for name, doc, field in BRIDGE_COUNTERS:
        counter = CounterMetricFamily(f"tiepdan_bridge_{name}", doc, labels=PARTICIPANT)
        for room_id, p in rows:
            counter.add_metric([room_id, p.participant_id], field(p))
        yield counter
    loss = GaugeMetricFamily(
        "tiepdan_bridge_loss_ratio",
        "Fraction lost of the media the participant publishes, since its connection began",
        labels=PARTICIPANT,
    )
    for room_id, p in rows:
        if p.loss is not None:
            loss.add_metric([room_id, p.participant_id], p.loss)
    yield loss


def _loop_lag(stats: BridgeStats) -> Iterable[Metric]:
    lag = stats.loop_lag
    histogram = HistogramMetricFamily(
        "tiepdan_event_loop_lag_seconds", "How late the event loop ran the lag probe's timer"
    )
    window = GaugeMetricFamily(
        "tiepdan_event_loop_lag_max_seconds", "The worst lag of the probe's recent readings"
    )
    if lag is not None:
        buckets = [(_le(le), float(n)) for le, n in lag.buckets]
        histogram.add_metric([], buckets, lag.total)
        window.add_metric([], lag.window_max)
    yield histogram
    yield window


def _le(bound: float) -> str:
    """A bucket's bound as Prometheus writes it ("+Inf" for the last)."""
    return "+Inf" if bound == float("inf") else repr(bound)


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """What the database and the spool say at one scrape."""

    files: dict[RecordingState, int]
    uploads_pending: int
    verified_at: datetime | None
    verified_ok: bool | None
    verified_files: int | None


class RecorderCollector:
    """The recorder's figures: tracks recording, their queues, drops and bytes written; the
    track files by state, uploads pending and failed; the last integrity check."""

    def __init__(
        self, source: RecorderSource, db: async_sessionmaker[AsyncSession], spool_dir: Path
    ) -> None:
        self._source = source
        self._db = db
        self._spool_dir = spool_dir
        self._store: StoreFigures | None = None

    async def refresh(self) -> None:
        try:
            async with self._db() as db:
                files = await recs.count_by_state(db)
                check = await archive.latest_check(db)
        except (SQLAlchemyError, OSError) as exc:  # /healthz says why; the rest still shows
            log.warning("recording figures not read from the database: %s", exc)
            self._store = None
            return
        pending = await asyncio.to_thread(list_journals, self._spool_dir)
        self._store = StoreFigures(
            files=files,
            uploads_pending=len(pending),
            verified_at=None if check is None else check.at,
            verified_ok=None if check is None else check.ok,
            verified_files=None if check is None else check.files,
        )

    def collect(self) -> Iterable[Metric]:
        tracks = self._source.track_stats()
        yield GaugeMetricFamily(
            "tiepdan_recording_tracks", "Tracks being recorded now", value=len(tracks)
        )
        yield from _tracks(tracks)
        yield from _store(self._store)


def _tracks(tracks: Sequence[TrackRecorderStats]) -> Iterable[Metric]:
    queue = GaugeMetricFamily(
        "tiepdan_recording_queue_frames", "Frames waiting for a track's writer", labels=TRACK
    )
    families = {
        "dropped": CounterMetricFamily(
            "tiepdan_recording_dropped_frames",
            "Frames not written (queue full, waiting for a key frame, unusable)",
            labels=TRACK,
        ),
        "frames": CounterMetricFamily(
            "tiepdan_recording_written_frames", "Frames written to a track's file", labels=TRACK
        ),
        "bytes": CounterMetricFamily(
            "tiepdan_recording_written_bytes",
            "Encoded frame bytes written to a track's file",
            labels=TRACK,
        ),
        "keyframes": CounterMetricFamily(
            "tiepdan_recording_keyframe_requests",
            "Key frames a track's recorder asked for (it fell behind or began mid-stream)",
            labels=TRACK,
        ),
    }
    for t in tracks:
        labels = [t.track.room_id, t.track.participant_id, t.track.source]
        queue.add_metric(labels, t.queued)
        families["dropped"].add_metric(labels, t.dropped)
        families["frames"].add_metric(labels, t.frames)
        families["bytes"].add_metric(labels, t.written_bytes)
        families["keyframes"].add_metric(labels, t.keyframes_asked)
    yield queue
    yield from families.values()


def _store(store: StoreFigures | None) -> Iterable[Metric]:
    files = GaugeMetricFamily(
        "tiepdan_recording_files", "Recorded track files, by state", labels=["state"]
    )
    pending = GaugeMetricFamily(
        "tiepdan_recording_uploads_pending", "Uploads to the store begun and not finished"
    )
    failed = GaugeMetricFamily(
        "tiepdan_recording_uploads_failed",
        "Track files the store does not hold (state failed: kept in the spool)",
    )
    at = GaugeMetricFamily(
        "tiepdan_recording_last_verification_timestamp_seconds",
        "When the latest integrity check of a session's recordings ran (UNIX time)",
    )
    ok = GaugeMetricFamily(
        "tiepdan_recording_last_verification_ok",
        "Whether the latest integrity check found everything matching (1) or not (0)",
    )
    checked = GaugeMetricFamily(
        "tiepdan_recording_last_verification_files", "Files the latest integrity check read"
    )
    if store is not None:
        for state, n in store.files.items():
            files.add_metric([state.value], n)
        pending.add_metric([], store.uploads_pending)
        failed.add_metric([], store.files[RecordingState.FAILED])
        if store.verified_at is not None:
            when = store.verified_at
            when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # stored UTC
            at.add_metric([], when.timestamp())
            ok.add_metric([], 1.0 if store.verified_ok else 0.0)
            checked.add_metric([], store.verified_files or 0)
    yield from (files, pending, failed, at, ok, checked)


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """After the bridge and the recording service have started: their collectors join the
    app's registry, and leave it before either stops."""
    service = app[RECORDINGS]
    collectors: list[ScrapeCollector] = [
        BridgeCollector(app[LIVE].bridge),
        RecorderCollector(service, app[DB], service.storage.spool_dir),
    ]
    for collector in collectors:
        app[METRICS].attach(collector)
    yield
    for collector in collectors:
        app[METRICS].detach(collector)
