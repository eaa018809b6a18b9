"""The recording package's settings: data passed in by the composition root (`web/`).

Nothing here reads the environment. `SETTING_NAMES` says which `TIEPDAN_*` variable each field
comes from, so that a start-up error can name the variable the operator has to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MiB = 1024 * 1024

ObjectLockMode = Literal["GOVERNANCE", "COMPLIANCE"]
ChecksumWhen = Literal["when_supported", "when_required"]

SETTING_NAMES: dict[str, str] = {
    "storage_url": "TIEPDAN_STORAGE_URL",
    "s3_endpoint_url": "TIEPDAN_S3_ENDPOINT_URL",
    "s3_region": "TIEPDAN_S3_REGION",
    "s3_access_key": "TIEPDAN_S3_ACCESS_KEY",
    "s3_secret_key": "TIEPDAN_S3_SECRET_KEY",
    "s3_path_style": "TIEPDAN_S3_PATH_STYLE",
    "spool_dir": "TIEPDAN_RECORDING_SPOOL_DIR",
    "multipart_chunk_size": "TIEPDAN_S3_MULTIPART_CHUNK_SIZE",
    "object_lock_retention_days": "TIEPDAN_RECORDING_RETENTION_DAYS",
}


def setting_name(field: str) -> str:
    """The environment variable behind a `RecordingConfig` field (for error messages)."""
    return SETTING_NAMES.get(field, f"TIEPDAN_{field.upper()}")


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    """Where recordings go and how hard we try to get them there.

    `storage_url` is `file:///absolute/path` or `s3://bucket/optional/prefix`; with S3 the
    endpoint URL (MinIO, Ceph, ...) and credentials are separate settings so that the URL
    never carries a secret.
    """

    storage_url: str = "file:///var/lib/tiepdan/recordings"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_path_style: bool = True
    # botocore >= 1.36 adds CRC32 checksums to every upload by default; some S3-compatible
    # stores reject them, hence the switch.
    s3_checksum_when: ChecksumWhen = "when_supported"
    s3_connect_timeout_s: float = 5.0
    s3_read_timeout_s: float = 60.0
    # Files at least this large go up in parts of `multipart_chunk_size` bytes (S3 wants
    # parts of at least 5 MiB, except the last).
    multipart_threshold: int = 64 * MiB
    multipart_chunk_size: int = 16 * MiB
    # Retries while the store is unreachable: exponential backoff between the two bounds;
    # `retry_max_attempts=None` retries until the caller stops us, so nothing is given up.
    retry_initial_backoff_s: float = 0.5
    retry_max_backoff_s: float = 30.0
    retry_max_attempts: int | None = None
    # After upload, compare size and SHA-256 metadata (HEAD); with `verify_rehash`, also
    # read the object back and hash it, before the local copy is released.
    verify_rehash: bool = True
    keep_local_after_upload: bool = False
    # Object-lock retention for finalized recordings where the bucket supports it; 0 = none.
    object_lock_retention_days: int = 0
    object_lock_mode: ObjectLockMode = "COMPLIANCE"
    # `check()` refuses a local store (or spool) with less free space than this.
    min_free_bytes: int = 1024 * MiB
    # Local spool: partial recordings, finalized files waiting for upload, upload journals.
    spool_dir: Path = Path("var/spool/recording")
    # Recorder: frames queued per track before dropping; a Matroska cluster is closed (and
    # so reaches the file) at least this often; the spool file is fsynced this often.
    queue_frames: int = 600
    cluster_time_limit_ms: int = 1000
    fsync_interval_s: float = 2.0

    def __post_init__(self) -> None:
        positive = {
            "multipart_threshold": self.multipart_threshold,
            "multipart_chunk_size": self.multipart_chunk_size,
            "queue_frames": self.queue_frames,
            "cluster_time_limit_ms": self.cluster_time_limit_ms,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{setting_name(name)} must be positive, got {value}")
        if self.object_lock_retention_days < 0:
            raise ValueError(
                f"{setting_name('object_lock_retention_days')} must be >= 0, "
                f"got {self.object_lock_retention_days}"
            )
        if self.retry_initial_backoff_s < 0 or self.retry_max_backoff_s < 0:
            raise ValueError("retry backoff must not be negative")
