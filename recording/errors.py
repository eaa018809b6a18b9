"""The recording package's few error categories.

`web/` maps them: `StorageConfigError` stops start-up with its message, `ObjectExistsError`
is a conflict, `IntegrityError` is what `verify` reports, `StoreUnavailable` is retried.
"""

from __future__ import annotations


class RecordingError(Exception):
    """Base of every error raised on purpose by `recording/`."""


class StorageConfigError(RecordingError, ValueError):
    """The storage settings are wrong or the store cannot be used; names the setting."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class StoreUnavailable(RecordingError):
    """The store could not be reached or answered with a transient error: retry later."""


class ObjectExistsError(RecordingError):
    """A finalized object already exists under this key with other content: never overwrite."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(f"refusing to overwrite finalized object {key!r}{detail}")
        self.key = key


class IntegrityError(RecordingError):
    """What the store holds does not match what was written."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key
        self.detail = detail


class StorageError(RecordingError):
    """A permanent error from the store (access denied, no such bucket...)."""
