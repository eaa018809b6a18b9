"""Fixtures for the recording tests: a real S3-compatible server (moto, over HTTP on
loopback), storages over it and over a temporary directory, and encoded test media."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import EncodedFrame
from recording.config import RecordingConfig
from tests.recording.recmedia import opus_frames, vp8_frames
from tests.recording.recs3 import PART, MotoS3


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    import moto.s3.models

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    saved = getattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE")  # noqa: B009
    setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", PART)  # noqa: B010 - small test parts
    server = MotoS3()
    server.start()
    yield server
    server.stop()
    setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", saved)  # noqa: B010


@pytest.fixture
def s3(moto_s3: MotoS3) -> Iterator[MotoS3]:
    """The shared server, restarted if a test left it stopped."""
    if not moto_s3.running:
        moto_s3.start()
    yield moto_s3
    if not moto_s3.running:
        moto_s3.start()


@pytest.fixture
def bucket(s3: MotoS3) -> str:
    name = f"rec-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_config(s3: MotoS3, bucket: str, tmp_path: Path) -> RecordingConfig:
    return RecordingConfig(
        storage_url=f"s3://{bucket}/tiepdan/rec",
        s3_endpoint_url=s3.endpoint,
        s3_access_key="test",
        s3_secret_key="test",
        multipart_threshold=PART * 2,
        multipart_chunk_size=PART,
        retry_initial_backoff_s=0.01,
        retry_max_backoff_s=0.05,
        retry_max_attempts=200,
        s3_connect_timeout_s=1.0,
        s3_read_timeout_s=5.0,
        spool_dir=tmp_path / "spool",
        min_free_bytes=0,
    )


@pytest.fixture
def file_config(tmp_path: Path) -> RecordingConfig:
    return RecordingConfig(
        storage_url=(tmp_path / "store").as_uri(),
        spool_dir=tmp_path / "spool",
        retry_initial_backoff_s=0.01,
        retry_max_backoff_s=0.05,
        min_free_bytes=0,
    )


@pytest.fixture(scope="session")
def vp8_5s() -> list[EncodedFrame]:
    return vp8_frames(5.0)


@pytest.fixture(scope="session")
def opus_5s() -> list[EncodedFrame]:
    return opus_frames(5.0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the moto server carry the `s3` marker (see pyproject)."""
    for item in items:
        if "moto_s3" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)
