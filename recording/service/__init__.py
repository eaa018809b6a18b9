"""The recording service: what records live sessions and stores what was recorded, with
its records, manifests and audit in the database (`sessions/`).

`RecordingService` (control.py) records each live session and hands the finished files to
its `RunStore` (store.py), which uploads them, keeps their records, writes the run's
hash-chained manifest and attaches the files to the cases heard; it also stores what the
spool scan at start recovered. `web/` composes it (web/recordings.py) with the storage, the
database and the sessions' rooms (`SessionRooms`), and serves its HTTP API.

A sub-package apart from `recording`'s own `__init__` so that importing the recorders and
storage does not import the database.
"""

from recording.service.control import RecordingService, Run, SessionRooms
from recording.service.store import (
    FAILURES,
    RunStore,
    agenda_case,
    manifest_entry,
    run_of,
    track_file,
)

__all__ = [
    "FAILURES",
    "RecordingService",
    "Run",
    "RunStore",
    "SessionRooms",
    "agenda_case",
    "manifest_entry",
    "run_of",
    "track_file",
]
