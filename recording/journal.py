"""The upload journal: one small JSON file per pending upload in the spool directory.

It is written before the first byte goes out and after every stored part, so that a
restarted process knows which local file goes to which key, its expected size and SHA-256,
and (for S3) the multipart upload id and the parts the store acknowledged. The local file is
released only after the journal says `verified`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from recording.fsutil import atomic_write_bytes

JournalState = Literal["pending", "verified"]
_STATES: tuple[JournalState, ...] = ("pending", "verified")


@dataclass(slots=True)
class PartRecord:
    number: int
    size: int
    etag: str


@dataclass(slots=True)
class UploadJournal:
    file: Path  # where this journal lives
    key: str
    source: Path  # the local file being uploaded
    size: int
    sha256: str
    state: JournalState = "pending"
    upload_id: str | None = None
    parts: dict[int, PartRecord] = field(default_factory=dict)

    @staticmethod
    def path_for(spool_dir: Path, key: str) -> Path:
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return spool_dir / "uploads" / f"{name}.json"

    def save(self) -> None:
        atomic_write_bytes(self.file, json.dumps(self._to_dict(), indent=1).encode())

    def remove(self) -> None:
        self.file.unlink(missing_ok=True)

    def reset_multipart(self) -> None:
        self.upload_id = None
        self.parts.clear()

    def _to_dict(self) -> dict[str, object]:
        return {
            "version": 1,
            "key": self.key,
            "source": str(self.source),
            "size": self.size,
            "sha256": self.sha256,
            "state": self.state,
            "upload_id": self.upload_id,
            "parts": [vars_of(p) for p in sorted(self.parts.values(), key=lambda p: p.number)],
        }

    @classmethod
    def load(cls, file: Path) -> UploadJournal:
        """Read a journal; raises ValueError naming the file if it is not one of ours."""
        try:
            raw = json.loads(file.read_bytes())
            state = raw["state"]
            if state not in _STATES:
                raise ValueError(f"unknown state {state!r}")
            parts = {
                int(p["number"]): PartRecord(int(p["number"]), int(p["size"]), str(p["etag"]))
                for p in raw["parts"]
            }
            return cls(
                file=file,
                key=str(raw["key"]),
                source=Path(raw["source"]),
                size=int(raw["size"]),
                sha256=str(raw["sha256"]),
                state=cast(JournalState, state),
                upload_id=raw["upload_id"],
                parts=parts,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad upload journal {file}: {exc}") from exc


def vars_of(part: PartRecord) -> dict[str, object]:
    return {"number": part.number, "size": part.size, "etag": part.etag}


def list_journals(spool_dir: Path) -> list[Path]:
    folder = spool_dir / "uploads"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
