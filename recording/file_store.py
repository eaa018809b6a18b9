"""`file:///path`: large local storage, written atomically and never overwritten.

An object is written to a temporary name, fsynced, made read-only and then hard-linked to
its final name: `link(2)` fails if the name exists, so a finalized object can never be
replaced (a rename would silently overwrite it). Its SHA-256 is kept beside it in
`NAME.sha256`, in `sha256sum` format, so `sha256sum -c` checks the store by hand too.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from recording.backend import ObjectInfo, PartHook
from recording.config import setting_name
from recording.errors import IntegrityError, ObjectExistsError, StorageConfigError
from recording.fsutil import CHUNK, atomic_write_bytes, fsync_dir
from recording.journal import UploadJournal

DIGEST_SUFFIX = ".sha256"


class FileBackend:
    def __init__(self, root: Path, min_free_bytes: int = 0) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes

    def url_for(self, key: str) -> str:
        return (self.root / key).as_uri()

    def path_of(self, key: str) -> Path:
        """Where a stored object lies on disk, to serve ranges of it without reading it."""
        return self.root / key

    def check(self) -> None:
        name = setting_name("storage_url")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageConfigError(name, f"cannot create {self.root}: {exc}") from exc
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageConfigError(name, f"{self.root} is not a writable directory")
        free = shutil.disk_usage(self.root).free
        if free < self.min_free_bytes:
            raise StorageConfigError(name, f"{self.root} has only {free} bytes free")

    def head(self, key: str) -> ObjectInfo | None:
        path = self.root / key
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        return ObjectInfo(key=key, size=size, sha256=self._read_digest(path))

    def read_chunks(self, key: str) -> Iterator[bytes]:
        with (self.root / key).open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def upload(self, journal: UploadJournal, on_part: PartHook | None) -> None:
        final = self.root / journal.key
        if final.exists():
            raise ObjectExistsError(journal.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        digest = self._copy(journal.source, tmp)
        if digest != journal.sha256:
            tmp.unlink(missing_ok=True)
            raise IntegrityError(journal.key, f"local file hashes to {digest} while copying")
        # The digest goes first: a finalized object always has its digest beside it.
        atomic_write_bytes(
            final.with_name(final.name + DIGEST_SUFFIX),
            f"{journal.sha256}  {final.name}\n".encode(),
        )
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)
        except FileExistsError as exc:
            raise ObjectExistsError(journal.key) from exc
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(final.parent)
        if on_part is not None:
            on_part(journal.key, 1)

    @staticmethod
    def _copy(source: Path, target: Path) -> str:
        digest = hashlib.sha256()
        with source.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        return digest.hexdigest()

    @staticmethod
    def _read_digest(path: Path) -> str | None:
        try:
            text = path.with_name(path.name + DIGEST_SUFFIX).read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                return None
            raise
        return text.split(" ", 1)[0].strip() or None
