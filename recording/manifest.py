"""A session's manifest: every recorded file, chained by hash, and a verifier.

The manifest is canonical JSON (sorted keys, no spaces, UTF-8, NFC text, integers and ISO
times only, so any language can recompute it). Its header (session, agenda cases) hashes to
the first entry's `prev`; each entry's `hash` covers its index, `prev` and file record, and
is the next entry's `prev`; `manifest_hash` covers everything else. So an altered or removed
entry breaks the chain, and an altered, removed or added file shows when `verify_manifest`
re-reads the store. Keep `manifest_hash` in the database too: whoever can rewrite the
manifest can recompute its chain.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from recording.errors import RecordingError, StorageError
from recording.storage import Storage, StoredObject

FORMAT = "tiepdan-recording-manifest/1"

ProblemKind = Literal["missing", "size", "hash", "chain", "manifest", "unreadable"]


@dataclass(frozen=True, slots=True)
class AgendaCase:
    """One case of the session's agenda, with when it was heard (UNIX seconds) if known."""

    case_id: str
    title: str = ""
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """One stored recording file, as the manifest lists it."""

    key: str
    sha256: str
    size: int
    duration_ms: int
    codec: str
    track_id: str
    kind: str
    source: str
    participant_id: str
    endpoint_id: int | None
    started_at: str  # ISO 8601 UTC wall-clock of the first frame


@dataclass(frozen=True, slots=True)
class Manifest:
    session_id: str
    created_at: str
    cases: tuple[AgendaCase, ...]
    files: tuple[ManifestFile, ...]
    document: dict[str, Any] = field(repr=False, compare=False)

    @property
    def manifest_hash(self) -> str:
        return str(self.document["manifest_hash"])

    def to_bytes(self) -> bytes:
        return canonical(self.document)


@dataclass(frozen=True, slots=True)
class Problem:
    key: str  # the file's storage key, or "manifest"
    kind: ProblemKind
    detail: str

    def __str__(self) -> str:
        return f"{self.key}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        bad = {p.key for p in self.problems}
        out = [f"OK {key}" for key in self.checked if key not in bad]
        return out + [f"FAIL {p}" for p in self.problems]


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha(obj: object) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _ts(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def build_manifest(
    session_id: str,
    files: Iterable[ManifestFile],
    cases: Sequence[AgendaCase] = (),
    *,
    created_at: float | None = None,
) -> Manifest:
    """Chain the files (in the order given) under a header naming the session and cases."""
    header = {
        "format": FORMAT,
        "session_id": _nfc(session_id),
        "created_at": iso_utc(
            created_at if created_at is not None else datetime.now(UTC).timestamp()
        ),
        "cases": [_case_dict(c) for c in cases],
    }
    prev = _sha(header)
    entries = []
    for index, item in enumerate(files):
        body = {"index": index, "prev": prev, "file": _file_dict(item)}
        prev = _sha(body)
        entries.append({**body, "hash": prev})
    document: dict[str, Any] = {**header, "entries": entries, "head": prev}
    document["manifest_hash"] = _sha(document)
    return parse_manifest(canonical(document))


def _case_dict(case: AgendaCase) -> dict[str, Any]:
    return {
        "case_id": _nfc(case.case_id),
        "title": _nfc(case.title),
        "started_at": None if case.started_at is None else iso_utc(case.started_at),
        "ended_at": None if case.ended_at is None else iso_utc(case.ended_at),
    }


def _file_dict(item: ManifestFile) -> dict[str, Any]:
    return {k: _nfc(v) if isinstance(v, str) else v for k, v in asdict(item).items()}


def parse_manifest(data: bytes) -> Manifest:
    """Parse a manifest without checking its chain; ValueError if it is not one."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        cases = tuple(
            AgendaCase(c["case_id"], c["title"], _ts(c["started_at"]), _ts(c["ended_at"]))
            for c in doc["cases"]
        )
        files = tuple(ManifestFile(**e["file"]) for e in doc["entries"])
        return Manifest(doc["session_id"], doc["created_at"], cases, files, doc)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a recording manifest: {exc}") from exc


def check_chain(manifest: Manifest, expected_hash: str | None = None) -> list[Problem]:
    """Recompute the header hash, every entry's link and the manifest hash."""
    doc = manifest.document
    problems: list[Problem] = []
    header = {k: doc[k] for k in ("format", "session_id", "created_at", "cases")}
    prev = _sha(header)
    for index, entry in enumerate(doc["entries"]):
        key = str(entry.get("file", {}).get("key", f"entry {index}"))
        body = {"index": entry.get("index"), "prev": entry.get("prev"), "file": entry.get("file")}
        if entry.get("index") != index or entry.get("prev") != prev:
            problems.append(
                Problem(key, "chain", f"entry {index} does not follow entry {index - 1}")
            )
        if _sha(body) != entry.get("hash"):
            problems.append(Problem(key, "chain", f"entry {index} was altered"))
        prev = str(entry.get("hash"))
    if doc.get("head") != prev:
        problems.append(Problem("manifest", "chain", "last entry is not the chain's head"))
    rest = {k: v for k, v in doc.items() if k != "manifest_hash"}
    if _sha(rest) != doc.get("manifest_hash"):
        problems.append(Problem("manifest", "manifest", "manifest hash does not match"))
    if expected_hash is not None and doc.get("manifest_hash") != expected_hash:
        problems.append(
            Problem("manifest", "manifest", f"manifest hash is not the recorded {expected_hash}")
        )
    return problems


async def verify_manifest(
    storage: Storage, manifest: Manifest, *, expected_hash: str | None = None
) -> VerifyReport:
    """Check the chain, then re-read every listed file from the store and hash it."""
    problems = check_chain(manifest, expected_hash)
    for item in manifest.files:
        problems.extend(await _verify_file(storage, item))
    return VerifyReport(tuple(f.key for f in manifest.files), tuple(problems))


async def _verify_file(storage: Storage, item: ManifestFile) -> list[Problem]:
    try:
        info = await storage.head(item.key)
        if info is None:
            return [Problem(item.key, "missing", "not in the store")]
        if info.size != item.size:
            return [Problem(item.key, "size", f"store has {info.size} bytes, manifest {item.size}")]
        size, digest = await storage.hash_object(item.key)
    except (StorageError, RecordingError, OSError) as exc:
        return [Problem(item.key, "unreadable", str(exc))]
    if digest != item.sha256 or size != item.size:
        return [Problem(item.key, "hash", f"store has sha256 {digest}, manifest {item.sha256}")]
    if info.sha256 is not None and info.sha256 != item.sha256:
        return [Problem(item.key, "hash", f"object metadata says sha256 {info.sha256}")]
    return []


async def store_manifest(storage: Storage, manifest: Manifest, key: str) -> StoredObject:
    """Store the manifest (never overwriting one already stored under `key`)."""
    return await storage.store_bytes(manifest.to_bytes(), key)


async def verify_stored_manifest(
    storage: Storage, key: str, *, expected_hash: str | None = None
) -> VerifyReport:
    """`tiepdan recording verify SESSION`: load the manifest from the store and verify it."""
    try:
        manifest = parse_manifest(await storage.read_bytes(key))
    except (ValueError, StorageError, OSError) as exc:
        return VerifyReport((), (Problem(key, "unreadable", str(exc)),))
    return await verify_manifest(storage, manifest, expected_hash=expected_hash)
