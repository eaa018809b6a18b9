"""Manifests: chained by hash; verify re-reads the store and names what does not match."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from recording.config import RecordingConfig
from recording.manifest import (
    AgendaCase,
    Manifest,
    ManifestFile,
    build_manifest,
    check_chain,
    parse_manifest,
    store_manifest,
    verify_manifest,
    verify_stored_manifest,
)
from recording.storage import Storage, open_storage
from tests.recording.recs3 import MotoS3

CASES = [
    AgendaCase("HS-2025-0042", "Khiếu nại về bồi thường đất", 1_750_000_100.0, 1_750_000_900.0),
    AgendaCase("HS-2025-0043", "Kiến nghị cấp giấy chứng nhận"),
]


async def stored_files(storage: Storage, spool: Path, count: int) -> list[ManifestFile]:
    files = []
    for i in range(count):
        data = hashlib.sha256(str(i).encode()).digest() * (100 + i)
        path = spool / "out" / f"t{i}.webm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stored = await storage.store_file(path, f"2025/s-9/t{i}.webm")
        files.append(
            ManifestFile(
                key=stored.key,
                sha256=stored.sha256,
                size=stored.size,
                duration_ms=20_000 + i,
                codec="VP8" if i % 2 else "opus",
                track_id=f"t{i}",
                kind="video" if i % 2 else "audio",
                source="camera" if i % 2 else "microphone",
                participant_id=f"p{i}",
                endpoint_id=i,
                started_at="2025-06-15T15:06:40.000000+00:00",
            )
        )
    return files


async def make_manifest(config: RecordingConfig) -> tuple[Storage, Manifest]:
    storage = open_storage(config)
    files = await stored_files(storage, config.spool_dir, 3)
    return storage, build_manifest("s-9", files, CASES, created_at=1_750_001_000.0)


def store_path(config: RecordingConfig, key: str) -> Path:
    return Path(config.storage_url.removeprefix("file://")) / key


def flip_byte(path: Path, offset: int) -> None:
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_manifest_is_canonical_and_round_trips() -> None:
    manifest = build_manifest("s-1", [], CASES, created_at=1_750_000_000.0)
    again = parse_manifest(manifest.to_bytes())
    assert again.to_bytes() == manifest.to_bytes()
    assert again.cases == tuple(CASES)
    assert "Khiếu nại" in manifest.to_bytes().decode()
    assert check_chain(again, manifest.manifest_hash) == []


async def test_intact_session_verifies_ok(file_config: RecordingConfig) -> None:
    storage, manifest = await make_manifest(file_config)

    report = await verify_manifest(storage, manifest, expected_hash=manifest.manifest_hash)

    assert report.ok, report.lines()
    assert report.lines() == [f"OK 2025/s-9/t{i}.webm" for i in range(3)]


async def test_flipped_byte_in_a_stored_file_fails_and_names_it(
    file_config: RecordingConfig,
) -> None:
    storage, manifest = await make_manifest(file_config)
    flip_byte(store_path(file_config, "2025/s-9/t1.webm"), 1000)

    report = await verify_manifest(storage, manifest)

    assert not report.ok
    (problem,) = report.problems
    assert (problem.key, problem.kind) == ("2025/s-9/t1.webm", "hash")
    assert "OK 2025/s-9/t0.webm" in report.lines()
    assert any(line.startswith("FAIL 2025/s-9/t1.webm: hash") for line in report.lines())


async def test_flipped_byte_on_s3_fails_and_names_it(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    storage, manifest = await make_manifest(s3_config)
    key = "tiepdan/rec/2025/s-9/t2.webm"
    client = s3.client()
    head = client.head_object(Bucket=bucket, Key=key)
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[7] ^= 0x80
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data), Metadata=head["Metadata"])

    report = await verify_manifest(storage, manifest)

    assert [(p.key, p.kind) for p in report.problems] == [("2025/s-9/t2.webm", "hash")]


async def test_missing_and_truncated_files_are_named(file_config: RecordingConfig) -> None:
    storage, manifest = await make_manifest(file_config)
    path0 = store_path(file_config, "2025/s-9/t0.webm")
    os.chmod(path0, stat.S_IRUSR | stat.S_IWUSR)
    path0.unlink()
    path2 = store_path(file_config, "2025/s-9/t2.webm")
    os.chmod(path2, stat.S_IRUSR | stat.S_IWUSR)
    path2.write_bytes(path2.read_bytes()[:-1])

    report = await verify_manifest(storage, manifest)

    kinds = {p.key: p.kind for p in report.problems}
    assert kinds == {"2025/s-9/t0.webm": "missing", "2025/s-9/t2.webm": "size"}


async def test_removed_entry_breaks_the_chain(file_config: RecordingConfig) -> None:
    storage, manifest = await make_manifest(file_config)
    doc = json.loads(manifest.to_bytes())
    del doc["entries"][1]
    tampered = parse_manifest(json.dumps(doc).encode())

    report = await verify_manifest(storage, tampered)

    chain = [p for p in report.problems if p.kind == "chain"]
    assert chain and chain[0].key == "2025/s-9/t2.webm"
    assert any(p.kind == "manifest" for p in report.problems)


async def test_altered_entry_or_agenda_breaks_the_chain(file_config: RecordingConfig) -> None:
    _, manifest = await make_manifest(file_config)
    doc = json.loads(manifest.to_bytes())
    doc["entries"][0]["file"]["duration_ms"] = 1
    problems = check_chain(parse_manifest(json.dumps(doc).encode()))
    assert problems[0].key == "2025/s-9/t0.webm"

    doc = json.loads(manifest.to_bytes())
    doc["cases"][0]["title"] = "Khác"
    problems = check_chain(parse_manifest(json.dumps(doc).encode()))
    assert problems[0].kind == "chain" and problems[0].key == "2025/s-9/t0.webm"


async def test_recomputed_manifest_does_not_match_the_recorded_hash(
    file_config: RecordingConfig,
) -> None:
    """Whoever rewrites the manifest can recompute its chain; the hash kept elsewhere shows."""
    storage, manifest = await make_manifest(file_config)
    forged = build_manifest("s-9", manifest.files[:2], CASES, created_at=1_750_001_000.0)

    report = await verify_manifest(storage, forged, expected_hash=manifest.manifest_hash)

    assert [p.kind for p in report.problems] == ["manifest"]


async def test_stored_manifest_verifies_from_the_store(file_config: RecordingConfig) -> None:
    storage, manifest = await make_manifest(file_config)
    await store_manifest(storage, manifest, "2025/s-9/manifest.json")

    ok = await verify_stored_manifest(storage, "2025/s-9/manifest.json")
    missing = await verify_stored_manifest(storage, "2025/s-10/manifest.json")

    assert ok.ok
    assert [p.kind for p in missing.problems] == ["unreadable"]


def test_garbage_is_not_a_manifest() -> None:
    with pytest.raises(ValueError, match="not a recording manifest"):
        parse_manifest(b"[1, 2]")
    with pytest.raises(ValueError, match="unknown format"):
        parse_manifest(b'{"format": "x"}')
