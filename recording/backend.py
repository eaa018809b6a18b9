"""What a storage backend is, for `storage.Storage` and the backends alike: the blocking
operations (`StorageBackend`), what the store says of an object (`ObjectInfo`), the upload's
observation hook and the metadata key under which an object's SHA-256 is kept.

Its own module so that `storage` may build the backends (`file_store`, `s3_store`) while they
use these types without importing `storage` back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from recording.journal import UploadJournal

SHA256_META = "sha256"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store says about one object."""

    key: str
    size: int
    sha256: str | None  # from the object's metadata
    retain_until: datetime | None = None


PartHook = Callable[[str, int], None]
RetryHook = Callable[[str, int, Exception], None]


class StorageBackend(Protocol):
    """Blocking operations of one kind of store; keys are relative to its root/prefix."""

    def url_for(self, key: str) -> str: ...

    def check(self) -> None: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def upload(self, journal: UploadJournal, on_part: PartHook | None) -> None:
        """Store `journal.source` under `journal.key`, hashing what it sends; raise
        ObjectExistsError if a finalized object is there, IntegrityError if the local file
        does not hash to `journal.sha256`, StoreUnavailable on a transient failure."""
        ...

    def read_chunks(self, key: str) -> Iterator[bytes]: ...
