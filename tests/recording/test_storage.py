"""Storage backends against a real S3-compatible server (moto over HTTP) and a local disk."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from recording.config import RecordingConfig
from recording.errors import IntegrityError, ObjectExistsError
from recording.journal import UploadJournal, list_journals
from recording.storage import Storage, StorageHooks, open_storage
from tests.recording.recs3 import PART, MotoS3


def make_file(folder: Path, name: str, size: int, seed: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB, not all alike
    data = bytearray()
    i = 0
    while len(data) < size:
        data += block[i % 7 :] + block[: i % 7]
        i += 1
    path.write_bytes(bytes(data[:size]))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def crash_after(n: int) -> Callable[[str, int], None]:
    def on_part(key: str, number: int) -> None:
        if number >= n:
            raise Crash(f"killed after part {number} of {key}")

    return on_part


# --- S3 ---


async def test_small_file_single_put_with_sha256_metadata(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    src = make_file(s3_config.spool_dir / "out", "a.webm", 50_000)
    digest = sha(src)
    storage = open_storage(s3_config)

    stored = await storage.store_file(src, "s-1/a.webm")

    assert (stored.size, stored.sha256) == (50_000, digest)
    assert stored.url == f"s3://{bucket}/tiepdan/rec/s-1/a.webm"
    head = s3.client().head_object(Bucket=bucket, Key="tiepdan/rec/s-1/a.webm")
    assert head["Metadata"]["sha256"] == digest
    assert not src.exists(), "local copy released once verified"
    assert list_journals(s3_config.spool_dir) == []


async def test_multipart_upload_in_small_parts(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    src = make_file(s3_config.spool_dir / "out", "big.webm", 5 * PART + 1234)
    digest = sha(src)
    parts: list[int] = []
    storage = open_storage(s3_config, hooks=StorageHooks(on_part=lambda k, n: parts.append(n)))

    stored = await storage.store_file(src, "s-1/big.webm")

    assert parts == [1, 2, 3, 4, 5, 6]
    assert stored.sha256 == digest
    body = s3.client().get_object(Bucket=bucket, Key="tiepdan/rec/s-1/big.webm")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == digest
    assert await storage.hash_object("s-1/big.webm") == (5 * PART + 1234, digest)


async def test_upload_resumes_after_restart(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    src = make_file(s3_config.spool_dir / "out", "big.webm", 4 * PART + 10)
    digest = sha(src)

    first = open_storage(s3_config, hooks=StorageHooks(on_part=crash_after(2)))
    with pytest.raises(Crash):
        await first.store_file(src, "s-1/big.webm")
    (journal_file,) = list_journals(s3_config.spool_dir)
    journal = UploadJournal.load(journal_file)
    assert journal.upload_id and sorted(journal.parts) == [1, 2]
    assert src.exists()

    # A new process: it finds the journal and sends only the parts the store lacks.
    sent: list[int] = []
    second = open_storage(s3_config, hooks=StorageHooks(on_part=lambda k, n: sent.append(n)))
    report = await second.resume_pending()

    assert sent == [3, 4, 5]
    assert [s.key for s in report.stored] == ["s-1/big.webm"] and not report.failed
    assert await second.hash_object("s-1/big.webm") == (4 * PART + 10, digest)
    assert not src.exists() and list_journals(s3_config.spool_dir) == []


async def test_resume_restarts_an_upload_the_store_forgot(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    src = make_file(s3_config.spool_dir / "out", "big.webm", 3 * PART)
    digest = sha(src)
    first = open_storage(s3_config, hooks=StorageHooks(on_part=crash_after(1)))
    with pytest.raises(Crash):
        await first.store_file(src, "s-1/big.webm")
    journal = UploadJournal.load(list_journals(s3_config.spool_dir)[0])
    s3.client().abort_multipart_upload(
        Bucket=bucket, Key="tiepdan/rec/s-1/big.webm", UploadId=journal.upload_id
    )

    sent: list[int] = []
    second = open_storage(s3_config, hooks=StorageHooks(on_part=lambda k, n: sent.append(n)))
    stored = await second.store_file(src, "s-1/big.webm")

    assert sent == [1, 2, 3]
    assert (stored.size, stored.sha256) == (3 * PART, digest)
    assert await second.hash_object("s-1/big.webm") == (3 * PART, digest)


async def test_store_down_mid_upload_then_back_completes_and_verifies(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    src = make_file(s3_config.spool_dir / "out", "big.webm", 4 * PART + 99)
    digest = sha(src)
    events: list[str] = []

    def on_part(key: str, number: int) -> None:
        events.append(f"part {number}")
        if number == 2 and s3.running and "restarted" not in events:
            s3.stop()  # the store goes away in the middle of the upload
            events.append("stopped")

    def on_retry(key: str, attempt: int, error: Exception) -> None:
        events.append(f"retry {attempt}")
        if attempt == 3:
            s3.start()
            events.append("restarted")

    storage = open_storage(s3_config, hooks=StorageHooks(on_part=on_part, on_retry=on_retry))
    stored = await storage.store_file(src, "s-1/big.webm")

    assert events[:6] == ["part 1", "part 2", "stopped", "retry 1", "retry 2", "retry 3"]
    assert "restarted" in events and events[-1] == "part 5"
    assert (stored.size, stored.sha256) == (4 * PART + 99, digest)
    body = s3.client().get_object(Bucket=bucket, Key="tiepdan/rec/s-1/big.webm")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == digest
    assert not src.exists()


async def test_overwrite_of_a_finalized_object_is_refused(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    storage = open_storage(s3_config)
    await storage.store_file(make_file(s3_config.spool_dir / "a", "x", 1000, seed=1), "s/x")
    other = make_file(s3_config.spool_dir / "b", "x", 1000, seed=2)

    with pytest.raises(ObjectExistsError, match="s/x"):
        await storage.store_file(other, "s/x")

    assert other.exists(), "the local file is kept when the store refuses it"
    body = s3.client().get_object(Bucket=bucket, Key="tiepdan/rec/s/x")["Body"].read()
    assert len(body) == 1000 and hashlib.sha256(body).hexdigest() != sha(other)


async def test_the_store_itself_refuses_to_overwrite(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    """Even if another writer slipped in after our HEAD, If-None-Match stops the PUT."""
    storage = open_storage(s3_config)
    src = make_file(s3_config.spool_dir / "a", "x", 1000)
    s3.client().put_object(Bucket=bucket, Key="tiepdan/rec/s/x", Body=b"someone else")
    backend = storage.backend
    journal = UploadJournal(
        file=s3_config.spool_dir / "j.json", key="s/x", source=src, size=1000, sha256=sha(src)
    )
    with pytest.raises(ObjectExistsError):
        backend.upload(journal, None)


async def test_tampered_object_fails_verification_and_keeps_local_copy(
    s3: MotoS3, s3_config: RecordingConfig, bucket: str
) -> None:
    """The store answers HEAD with the right size and metadata but holds other bytes."""
    src = make_file(s3_config.spool_dir / "out", "a.webm", 2000)
    digest = sha(src)
    s3.client().put_object(
        Bucket=bucket,
        Key="tiepdan/rec/s/a.webm",
        Body=b"\0" * 2000,
        Metadata={"sha256": digest},
    )
    storage = open_storage(s3_config)

    with pytest.raises(IntegrityError, match=r"s/a\.webm: read back"):
        await storage.store_file(src, "s/a.webm")
    assert src.exists()


async def test_object_lock_retention_where_the_bucket_supports_it(
    s3: MotoS3, s3_config: RecordingConfig
) -> None:
    client = s3.client()
    client.create_bucket(Bucket="locked-recordings", ObjectLockEnabledForBucket=True)
    config = dataclasses.replace(
        s3_config, storage_url="s3://locked-recordings", object_lock_retention_days=3650
    )
    storage = open_storage(config)
    await storage.check()
    src = make_file(config.spool_dir / "out", "a.webm", 3 * PART)

    stored = await storage.store_file(src, "s/a.webm")

    head = client.head_object(Bucket="locked-recordings", Key="s/a.webm")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert stored.retain_until is not None and stored.retain_until.year >= 2035


# --- file:// ---


async def test_local_store_is_atomic_and_keeps_a_digest(file_config: RecordingConfig) -> None:
    src = make_file(file_config.spool_dir / "out", "a.webm", 100_000)
    digest = sha(src)
    storage = open_storage(file_config)

    stored = await storage.store_file(src, "2025/s-1/a.webm")

    root = Path(file_config.storage_url.removeprefix("file://"))
    final = root / "2025/s-1/a.webm"
    assert sha(final) == digest == stored.sha256
    assert (root / "2025/s-1/a.webm.sha256").read_text() == f"{digest}  a.webm\n"
    assert sorted(p.name for p in final.parent.iterdir()) == ["a.webm", "a.webm.sha256"]
    assert not os.access(final, os.W_OK) or os.geteuid() == 0
    assert final.stat().st_mode & 0o222 == 0
    assert not src.exists()


async def test_local_store_refuses_overwrite(file_config: RecordingConfig) -> None:
    storage = open_storage(file_config)
    await storage.store_file(make_file(file_config.spool_dir / "a", "x", 10, seed=1), "s/x")
    other = make_file(file_config.spool_dir / "b", "x", 10, seed=2)

    with pytest.raises(ObjectExistsError):
        await storage.store_file(other, "s/x")
    assert other.exists()
    # Storing the very same content again is not an overwrite: it is already there.
    same = make_file(file_config.spool_dir / "c", "x", 10, seed=1)
    assert (await storage.store_file(same, "s/x")).size == 10


async def test_local_copy_changed_after_hashing_is_caught(file_config: RecordingConfig) -> None:
    src = make_file(file_config.spool_dir / "out", "a", 1000)
    with pytest.raises(IntegrityError, match="hashes to"):
        await open_storage(file_config).store_file(src, "s/a", sha256="0" * 64)
    assert src.exists()


async def test_manifest_bytes_go_through_the_same_path(file_config: RecordingConfig) -> None:
    storage: Storage = open_storage(file_config)
    stored = await storage.store_bytes(b'{"x":1}', "s/manifest.json")
    assert await storage.read_bytes("s/manifest.json") == b'{"x":1}'
    assert stored.sha256 == hashlib.sha256(b'{"x":1}').hexdigest()
    assert list((file_config.spool_dir / "outgoing").iterdir()) == []
