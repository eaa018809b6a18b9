"""Recording: track recorders, storage backends (local, S3), manifests and verification.

Construct a `Storage` with `open_storage(config)` and `await storage.check()` at start-up;
run `recover_spool(config, storage)` once before recording; record each track with a
`TrackRecorder` (or all of a room's with a `SessionRecorder`), hand each `RecordedFile` to
`store_recording`, then chain them in a manifest with `build_manifest` / `store_manifest`. Render a session
(or one case's range) into one MP4 by submitting an `ExportSpec` to an `ExportQueue`.
"""

from recording.backend import ObjectInfo
from recording.config import RecordingConfig
from recording.errors import (
    IntegrityError,
    ObjectExistsError,
    RecordingError,
    StorageConfigError,
    StorageError,
    StoreUnavailable,
)
from recording.export import (
    ExportCancelled,
    ExportConfig,
    ExportError,
    ExportJob,
    ExportQueue,
    ExportSpec,
    ExportState,
    ExportTrack,
    FloorChange,
    render_export,
)
from recording.manifest import (
    AgendaCase,
    Manifest,
    ManifestFile,
    VerifyReport,
    build_manifest,
    parse_manifest,
    store_manifest,
    verify_manifest,
    verify_stored_manifest,
)
from recording.recorder import (
    RecordedFile,
    RecordingFailure,
    SessionRecorder,
    TrackRecorder,
    TrackRecorderStats,
    store_recording,
)
from recording.recovery import RecoveryReport, recover_spool
from recording.storage import Storage, StorageHooks, StoredObject, open_storage

__all__ = [
    "AgendaCase",
    "ExportCancelled",
    "ExportConfig",
    "ExportError",
    "ExportJob",
    "ExportQueue",
    "ExportSpec",
    "ExportState",
    "ExportTrack",
    "FloorChange",
    "IntegrityError",
    "Manifest",
    "ManifestFile",
    "ObjectExistsError",
    "ObjectInfo",
    "RecordedFile",
    "RecordingConfig",
    "RecordingError",
    "RecordingFailure",
    "RecoveryReport",
    "SessionRecorder",
    "Storage",
    "StorageConfigError",
    "StorageError",
    "StorageHooks",
    "StoreUnavailable",
    "StoredObject",
    "TrackRecorder",
    "TrackRecorderStats",
    "VerifyReport",
    "build_manifest",
    "open_storage",
    "parse_manifest",
    "recover_spool",
    "render_export",
    "store_manifest",
    "store_recording",
    "verify_manifest",
    "verify_stored_manifest",
]
