"""At start-up: repair the spool files a crash left behind and finish their uploads.

A partial file (`NAME.webm.part` whose sidecar still says `recording`) is remuxed packet by
packet into a new file, `NAME.webm`, which gets its trailer (cues, duration); the partial is
deleted only once the new file is written, fsynced and holds every packet that could be
read. A partial that cannot be read at all is moved to `unrecoverable/`, never deleted.
Finalized files still in the spool are then stored, and the remaining upload journals
resumed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.error

from recording.config import RecordingConfig
from recording.errors import RecordingError
from recording.fsutil import fsync_dir
from recording.journal import UploadJournal
from recording.recorder import (
    PART_SUFFIX,
    SIDECAR_SUFFIX,
    RecordedFile,
    finalize_file,
    recorded_from_sidecar,
    spool_tracks_dir,
    store_recording,
)
from recording.storage import Storage, StoredObject


@dataclass(frozen=True, slots=True)
class RemuxResult:
    packets: int
    duration_s: float


@dataclass(slots=True)
class RecoveryReport:
    recovered: list[RecordedFile] = field(default_factory=list)  # repaired partial files
    pending: list[RecordedFile] = field(default_factory=list)  # finalized, not yet stored
    stored: list[tuple[RecordedFile, StoredObject]] = field(default_factory=list)
    other_stored: list[StoredObject] = field(default_factory=list)  # manifests etc.
    failed: dict[str, str] = field(default_factory=dict)  # path or key -> why


def remux(source: Path, target: Path) -> RemuxResult:
    """Copy every readable packet of `source` into a new file `target` (no decoding).

    A file cut by a crash ends in a truncated cluster: demuxing stops at the first error
    and what was read before it is kept."""
    with av.open(str(source)) as src:
        fmt = "webm" if "webm" in (src.format.name or "") else "matroska"
        with open(target, "xb") as f, av.open(f, "w", format=fmt) as dst:
            dst.metadata.update(src.metadata)
            mapping = {s.index: dst.add_stream_from_template(s) for s in src.streams}
            packets, first, end = _copy_packets(src, dst, mapping)
        with open(target, "rb+") as out:
            os.fsync(out.fileno())
    duration = 0.0 if first is None else float(end - first)
    return RemuxResult(packets, duration)


def _copy_packets(
    src: av.container.InputContainer,
    dst: av.container.OutputContainer,
    mapping: dict[int, av.stream.Stream],
) -> tuple[int, Fraction | None, Fraction]:
    packets = 0
    first: Fraction | None = None
    end = Fraction(0)
    try:
        for packet in src.demux():
            if packet.dts is None or packet.pts is None or packet.time_base is None:
                continue  # the demuxer's end-of-stream marker
            start = packet.pts * packet.time_base
            first = start if first is None else min(first, start)
            end = max(end, start + (packet.duration or 0) * packet.time_base)
            packet.stream = mapping[packet.stream.index]
            dst.mux_one(packet)
            packets += 1
    except (av.error.FFmpegError, EOFError):
        pass  # truncated tail: keep what was read
    return packets, first, end


def repair_partial(part: Path) -> RecordedFile:
    """Remux one partial spool file into its final name and finalize it."""
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    final.unlink(missing_ok=True)  # a repair interrupted by another crash: redo it
    result = remux(part, final)
    if result.packets == 0:
        final.unlink(missing_ok=True)
        raise RecordingError(f"{part}: no readable packet")
    recorded = finalize_file(final, result.duration_s, result.packets, 0, status="recovered")
    part.unlink()
    fsync_dir(part.parent)
    return recorded


def scan_spool(config: RecordingConfig, log: logging.Logger) -> RecoveryReport:
    """Blocking: repair partial files, list finalized ones; nothing is uploaded here."""
    report = RecoveryReport()
    folder = spool_tracks_dir(config)
    if not folder.is_dir():
        return report
    for sidecar_file in sorted(folder.glob("*" + SIDECAR_SUFFIX)):
        _scan_one(config, sidecar_file, report, log)
    return report


def _scan_one(
    config: RecordingConfig, sidecar_file: Path, report: RecoveryReport, log: logging.Logger
) -> None:
    try:
        sidecar = json.loads(sidecar_file.read_bytes())
        media = _media_name(sidecar_file, str(sidecar["key"]))
        part = media.with_name(media.name + PART_SUFFIX)
        if sidecar["state"] == "finalized":
            if media.exists():
                report.pending.append(recorded_from_sidecar(media, sidecar))
            elif not UploadJournal.path_for(config.spool_dir, sidecar["key"]).exists():
                sidecar_file.unlink()  # stored and released; only the sidecar was left
            return
        if not part.exists():
            if media.exists():
                raise RecordingError(f"{media} exists but its sidecar says it is partial")
            sidecar_file.unlink()  # the crash came before the first byte was written
            return
        report.recovered.append(repair_partial(part))
    except (OSError, ValueError, KeyError, RecordingError, av.error.FFmpegError) as exc:
        log.error("spool file %s not recovered: %s", sidecar_file, exc)
        report.failed[str(sidecar_file)] = str(exc)
        _quarantine(config, sidecar_file, log)


def _media_name(sidecar_file: Path, key: str) -> Path:
    return sidecar_file.with_name(key.rsplit("/", 1)[-1])


def _quarantine(config: RecordingConfig, sidecar_file: Path, log: logging.Logger) -> None:
    """Move an unreadable recording aside, keeping every byte of it."""
    target = config.spool_dir / "unrecoverable"
    target.mkdir(parents=True, exist_ok=True)
    stem = sidecar_file.name.removesuffix(SIDECAR_SUFFIX)
    for path in sidecar_file.parent.glob(stem + "*"):
        try:
            path.rename(target / path.name)
        except OSError as exc:
            log.error("cannot move %s aside: %s", path, exc)


async def recover_spool(
    config: RecordingConfig, storage: Storage | None = None, *, logger: logging.Logger | None = None
) -> RecoveryReport:
    """Repair partial recordings; with a storage, also store every finalized spool file and
    resume the other journaled uploads. Call once at start, before recording anything."""
    log = logger or logging.getLogger(__name__)
    report = await asyncio.to_thread(scan_spool, config, log)
    if storage is None:
        return report
    handled: set[str] = set()
    for recorded in [*report.recovered, *report.pending]:
        handled.add(recorded.key)
        try:
            report.stored.append((recorded, await store_recording(storage, recorded)))
        except (RecordingError, OSError) as exc:
            log.error("recording %s not stored: %s", recorded.key, exc)
            report.failed[recorded.key] = str(exc)
    others = await storage.resume_pending(skip=frozenset(handled))
    report.other_stored.extend(others.stored)
    report.failed.update(others.failed)
    return report
