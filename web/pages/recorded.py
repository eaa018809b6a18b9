"""What a page shows of a session's track files: the endpoint by name, the length in
Vietnamese figures (decimal comma), the integrity and the state, and whether a file was
repaired after a crash."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from sessions.models import RecordingRecord, RecordingState
from web.pages import lookup
from web.recordings import SOURCE_LABELS

RECORDING_STATES = {
    RecordingState.RECORDING: "Đang ghi",
    RecordingState.FINALIZING: "Đang hoàn tất tệp",
    RecordingState.STORED: "Đã lưu vào kho",
    RecordingState.REPAIRED: "Đã lưu vào kho",
    RecordingState.FAILED: "Lỗi, chưa lưu được",
}
REPAIRED = "đã khôi phục sau sự cố"


def decimal(value: float, digits: int = 1) -> str:
    """A number the Vietnamese way: "9,2" (decimal comma), "1.234,5" (dot for thousands)."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def duration_text(ms: int | None) -> str:
    """ "9,2 giây", "3 phút 5,0 giây", "1 giờ 2 phút 0,0 giây"; "—" when not known."""
    if ms is None:
        return "—"
    seconds = ms / 1000
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    tail = f"{decimal(seconds - hours * 3600 - minutes * 60)} giây"
    if hours:
        return f"{hours} giờ {minutes} phút {tail}"
    return f"{minutes} phút {tail}" if minutes else tail


def endpoint_label(names: dict[int, str], endpoint_id: int | None) -> str:
    if endpoint_id is None:
        return "Không rõ điểm cầu"
    return names.get(endpoint_id) or "Điểm cầu đã bị xóa"


@dataclass(frozen=True, slots=True)
class TrackRow:
    id: int
    endpoint: str
    source: str
    duration: str
    state: str
    repaired: bool
    sealed: bool  # its SHA-256 is kept and it is listed in a stored manifest
    integrity: str
    sha256: str
    failure_reason: str
    download_url: str


def integrity_text(r: RecordingRecord) -> str:
    if r.sha256 and r.manifest_id is not None:
        return "Đã niêm phong: SHA-256 có trong bảng kê"
    if r.sha256:
        return "Có SHA-256, chưa vào bảng kê"
    return "Chưa có mã SHA-256"


async def track_rows(db: AsyncSession, records: list[RecordingRecord]) -> list[TrackRow]:
    names = await lookup.endpoint_names(
        db, (r.endpoint_id for r in records if r.endpoint_id is not None)
    )
    return [
        TrackRow(
            id=r.id,
            endpoint=endpoint_label(names, r.endpoint_id),
            source=SOURCE_LABELS.get(r.track_source, r.track_source),
            duration=duration_text(r.duration_ms),
            state=RECORDING_STATES.get(r.state, r.state.value),
            repaired=r.state is RecordingState.REPAIRED,
            sealed=bool(r.sha256) and r.manifest_id is not None,
            integrity=integrity_text(r),
            sha256=r.sha256 or "",
            failure_reason=r.failure_reason or "",
            download_url=f"/api/v1/recordings/{r.id}/download",
        )
        for r in records
    ]
