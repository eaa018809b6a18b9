"""Bad storage settings fail at start-up with an error that names the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from recording.config import RecordingConfig
from recording.errors import StorageConfigError
from recording.storage import check_key, open_storage
from tests.recording.recs3 import MotoS3, free_port


@pytest.mark.parametrize(
    ("url", "setting", "says"),
    [
        ("ftp://host/x", "TIEPDAN_STORAGE_URL", "unknown scheme 'ftp'"),
        ("/var/rec", "TIEPDAN_STORAGE_URL", "unknown scheme ''"),
        ("file://host/var/rec", "TIEPDAN_STORAGE_URL", "file:///absolute/path"),
        ("file:relative", "TIEPDAN_STORAGE_URL", "file:///absolute/path"),
        ("s3://", "TIEPDAN_STORAGE_URL", "s3://bucket"),
        ("s3://Bad_Bucket/x", "TIEPDAN_STORAGE_URL", "s3://bucket"),
        ("s3://user:secret@bucket/x", "TIEPDAN_STORAGE_URL", "credentials"),
    ],
)
def test_malformed_storage_url_names_the_variable(url: str, setting: str, says: str) -> None:
    with pytest.raises(StorageConfigError, match=says) as info:
        open_storage(RecordingConfig(storage_url=url, s3_endpoint_url="http://127.0.0.1:9"))
    assert info.value.setting == setting
    assert str(info.value).startswith(setting)
    assert "secret" not in str(info.value)


async def test_missing_credentials_name_the_variable(tmp_path: Path) -> None:
    config = RecordingConfig(
        storage_url="s3://recordings", s3_endpoint_url="http://127.0.0.1:9", spool_dir=tmp_path
    )
    storage = open_storage(config)
    # boto3 also looks for credentials in its own places; make sure it finds none.
    storage.backend.client._request_signer._credentials = None  # type: ignore[attr-defined]
    with pytest.raises(StorageConfigError, match="TIEPDAN_S3_ACCESS_KEY"):
        await storage.check()


def test_malformed_endpoint_names_the_variable() -> None:
    config = RecordingConfig(storage_url="s3://bucket", s3_endpoint_url="minio:9000")
    with pytest.raises(StorageConfigError, match="TIEPDAN_S3_ENDPOINT_URL"):
        open_storage(config)


async def test_unreachable_s3_at_start_names_the_endpoint(tmp_path: Path) -> None:
    config = RecordingConfig(
        storage_url="s3://recordings",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        s3_connect_timeout_s=0.5,
        s3_access_key="k",
        s3_secret_key="s",
        spool_dir=tmp_path,
    )
    with pytest.raises(StorageConfigError, match="cannot reach") as info:
        await open_storage(config).check()
    assert info.value.setting == "TIEPDAN_S3_ENDPOINT_URL"


async def test_missing_bucket_names_the_storage_url(s3: MotoS3, s3_config: RecordingConfig) -> None:
    config = dataclasses.replace(s3_config, storage_url="s3://no-such-bucket-here/x")
    with pytest.raises(StorageConfigError, match="does not exist") as info:
        await open_storage(config).check()
    assert info.value.setting == "TIEPDAN_STORAGE_URL"


async def test_reachable_stores_pass_the_check(
    s3_config: RecordingConfig, file_config: RecordingConfig
) -> None:
    await open_storage(s3_config).check()
    await open_storage(file_config).check()


async def test_unwritable_local_store_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = RecordingConfig(storage_url=(blocker / "rec").as_uri(), min_free_bytes=0)
    with pytest.raises(StorageConfigError, match="TIEPDAN_STORAGE_URL"):
        await open_storage(config).check()


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="TIEPDAN_S3_MULTIPART_CHUNK_SIZE"):
        RecordingConfig(multipart_chunk_size=0)
    with pytest.raises(ValueError, match="TIEPDAN_RECORDING_RETENTION_DAYS"):
        RecordingConfig(object_lock_retention_days=-1)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "with space", "a/./b"])
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        check_key(key)
