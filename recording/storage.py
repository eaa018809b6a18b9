"""Storage backends chosen by URL, behind one asynchronous façade.

A backend (`file_store.FileBackend`, `s3_store.S3Backend`) is blocking and runs in worker
threads; `Storage` adds what both need: the upload journal, retries with backoff while the
store is unreachable, verification (size and SHA-256, optionally by reading the object back)
before the local copy is released, and the refusal to overwrite a finalized object.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from recording.backend import ObjectInfo, PartHook, RetryHook, StorageBackend
from recording.config import RecordingConfig, setting_name
from recording.errors import (
    IntegrityError,
    ObjectExistsError,
    RecordingError,
    StorageConfigError,
    StorageError,
    StoreUnavailable,
)
from recording.fsutil import sha256_chunks, sha256_file
from recording.journal import UploadJournal, list_journals

T = TypeVar("T")
_KEY_RE = re.compile(r"^[A-Za-z0-9._\-]+(/[A-Za-z0-9._\-]+)*$")


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A file the store holds and that was verified: what the caller persists."""

    key: str
    url: str
    size: int
    sha256: str
    retain_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class StorageHooks:
    """Observation points, for metrics and for fault tests.

    `on_part(key, part_number)` runs in the upload's worker thread after a part is stored;
    `on_retry(key, attempt, error)` runs on the event loop before backing off.
    """

    on_part: PartHook | None = None
    on_retry: RetryHook | None = None


@dataclass(frozen=True, slots=True)
class ResumeReport:
    stored: list[StoredObject] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def check_key(key: str) -> str:
    """Keys are relative paths of safe characters: no '..', no leading '/', no spaces."""
    if not _KEY_RE.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class Storage:
    """The store recordings and manifests go to; construct with `open_storage(config)`."""

    def __init__(
        self,
        backend: StorageBackend,
        config: RecordingConfig,
        *,
        logger: logging.Logger | None = None,
        hooks: StorageHooks | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.log = logger or logging.getLogger(__name__)
        self.hooks = hooks or StorageHooks()

    @property
    def spool_dir(self) -> Path:
        return self.config.spool_dir

    def url_for(self, key: str) -> str:
        return self.backend.url_for(key)

    def local_path(self, key: str) -> Path | None:
        """The object's file when the store is a local directory (`file://`), else None."""
        from recording.file_store import FileBackend

        if isinstance(self.backend, FileBackend):
            return self.backend.path_of(check_key(key))
        return None

    def presigned_get(
        self, key: str, seconds: int, *, media_type: str, disposition: str
    ) -> str | None:
        """A short-lived GET URL of the object when the store is S3, else None."""
        from recording.s3_store import S3Backend

        if isinstance(self.backend, S3Backend):
            return self.backend.presign_get(
                check_key(key), seconds, media_type=media_type, disposition=disposition
            )
        return None

    async def check(self) -> None:
        """Fail at start-up with a StorageConfigError naming the setting to fix."""
        await asyncio.to_thread(self.backend.check)

    async def head(self, key: str) -> ObjectInfo | None:
        return await self._retrying(key, lambda: self.backend.head(check_key(key)))

    async def hash_object(self, key: str) -> tuple[int, str]:
        """Read the object back from the store: its size and SHA-256."""
        return await self._retrying(key, lambda: sha256_chunks(self.backend.read_chunks(key)))

    async def read_bytes(self, key: str) -> bytes:
        return await self._retrying(key, lambda: b"".join(self.backend.read_chunks(key)))

    async def store_file(self, path: Path, key: str, *, sha256: str | None = None) -> StoredObject:
        """Upload a finalized local file, verify it, then release the local copy.

        Resumes a journaled upload of the same key. Raises ObjectExistsError (the local file
        is kept) if the key holds something else.
        """
        check_key(key)
        journal = await asyncio.to_thread(self._open_journal, path, key, sha256)
        return await self._finish(journal)

    async def store_bytes(self, data: bytes, key: str) -> StoredObject:
        """Store a small object (a manifest) through the same journaled path."""
        check_key(key)
        path = await asyncio.to_thread(self._spool_bytes, data)
        try:
            return await self.store_file(path, key, sha256=hashlib.sha256(data).hexdigest())
        except (ObjectExistsError, IntegrityError):
            await asyncio.to_thread(path.unlink, missing_ok=True)  # the caller has the bytes
            raise

    def _spool_bytes(self, data: bytes) -> Path:
        folder = self.spool_dir / "outgoing"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".bin") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return Path(f.name)

    async def resume_pending(self, skip: frozenset[str] = frozenset()) -> ResumeReport:
        """At start: finish every journaled upload (keys in `skip` are left to the caller)."""
        report = ResumeReport()
        for file in list_journals(self.spool_dir):
            try:
                journal = await asyncio.to_thread(UploadJournal.load, file)
                if journal.key in skip:
                    continue
                report.stored.append(await self._finish(journal))
            except (ValueError, OSError, RecordingError) as exc:
                self.log.error("pending upload %s not finished: %s", file, exc)
                report.failed[str(file)] = str(exc)
        return report

    def _open_journal(self, path: Path, key: str, sha256: str | None) -> UploadJournal:
        file = UploadJournal.path_for(self.spool_dir, key)
        if file.exists():
            journal = UploadJournal.load(file)
            if journal.source == path and (sha256 is None or journal.sha256 == sha256):
                return journal
            raise ObjectExistsError(key, f": another upload of this key is pending ({file})")
        size, digest = sha256_file(path)
        if sha256 is not None and sha256 != digest:
            raise IntegrityError(key, f"local file {path} hashes to {digest}, expected {sha256}")
        journal = UploadJournal(file=file, key=key, source=path, size=size, sha256=digest)
        journal.save()
        return journal

    async def _finish(self, journal: UploadJournal) -> StoredObject:
        try:
            info = await self._retrying(journal.key, lambda: self._upload_and_verify(journal))
        except (ObjectExistsError, IntegrityError):
            # Not a transfer to resume: the caller decides; the local file stays where it is.
            await asyncio.to_thread(journal.remove)
            raise
        await asyncio.to_thread(self._release, journal)
        return StoredObject(
            key=journal.key,
            url=self.backend.url_for(journal.key),
            size=journal.size,
            sha256=journal.sha256,
            retain_until=info.retain_until,
        )

    def _upload_and_verify(self, journal: UploadJournal) -> ObjectInfo:
        if journal.state != "verified":
            info = self.backend.head(journal.key)
            if info is None:
                if not journal.source.exists():
                    raise StorageError(f"{journal.key}: local file {journal.source} is gone")
                self.backend.upload(journal, self.hooks.on_part)
            elif not _same(info, journal):
                raise ObjectExistsError(
                    journal.key, f" (store has size {info.size}, sha256 {info.sha256})"
                )
        info = self._verify(journal)
        if journal.state != "verified":
            journal.state = "verified"
            journal.save()
        return info

    def _verify(self, journal: UploadJournal) -> ObjectInfo:
        info = self.backend.head(journal.key)
        if info is None:
            raise IntegrityError(journal.key, "missing from the store after upload")
        if not _same(info, journal):
            raise IntegrityError(
                journal.key,
                f"store has size {info.size} sha256 {info.sha256}, "
                f"expected {journal.size} {journal.sha256}",
            )
        if self.config.verify_rehash:
            size, digest = sha256_chunks(self.backend.read_chunks(journal.key))
            if (size, digest) != (journal.size, journal.sha256):
                raise IntegrityError(
                    journal.key, f"read back size {size} sha256 {digest}, expected {journal.sha256}"
                )
        return info

    def _release(self, journal: UploadJournal) -> None:
        if not self.config.keep_local_after_upload:
            journal.source.unlink(missing_ok=True)
        journal.remove()

    async def _retrying(self, key: str, op: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(op)
            except StoreUnavailable as exc:
                attempt += 1
                limit = self.config.retry_max_attempts
                if limit is not None and attempt >= limit:
                    raise
                delay = min(
                    self.config.retry_max_backoff_s,
                    self.config.retry_initial_backoff_s * 2 ** (attempt - 1),
                )
                self.log.warning("store unreachable for %s (attempt %d): %s", key, attempt, exc)
                if self.hooks.on_retry is not None:
                    self.hooks.on_retry(key, attempt, exc)
                await asyncio.sleep(delay)


def _same(info: ObjectInfo, journal: UploadJournal) -> bool:
    return info.size == journal.size and info.sha256 == journal.sha256


def open_storage(
    config: RecordingConfig,
    *,
    logger: logging.Logger | None = None,
    hooks: StorageHooks | None = None,
) -> Storage:
    """Build the backend named by `config.storage_url`; raises StorageConfigError naming
    the setting for a malformed URL or unknown scheme (reachability: `await check()`)."""
    url = config.storage_url
    name = setting_name("storage_url")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise StorageConfigError(name, "must not carry credentials; use the S3 key settings")
    if parts.scheme == "file":
        from recording.file_store import FileBackend

        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise StorageConfigError(name, f"expected file:///absolute/path, got {url!r}")
        backend = FileBackend(Path(parts.path), config.min_free_bytes)
        return Storage(backend, config, logger=logger, hooks=hooks)
    if parts.scheme == "s3":
        from recording.s3_store import S3Backend

        return Storage(S3Backend.from_config(config), config, logger=logger, hooks=hooks)
    raise StorageConfigError(
        name, f"unknown scheme {parts.scheme!r} in {url!r} (expected file:// or s3://)"
    )
