"""Judging a readiness check's measured figures against the thresholds (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scheduling.config import Thresholds


@dataclass(frozen=True, slots=True)
class Figures:
    """What the check page measured over the loopback through the bridge."""

    rtt_ms: float
    loss_pct: float
    jitter_ms: float
    bitrate_kbps: float
    fps: float
    width: int
    height: int
    audio_level_seen: bool
    # Why nothing could be measured (the bridge refused the test room, no media came back);
    # empty when the check ran.
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    problems: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return " ".join(self.problems)


def _num(value: float, digits: int = 0) -> str:
    # Vietnamese writes a decimal comma.
    return f"{value:.{digits}f}".replace(".", ",")


def evaluate(f: Figures, t: Thresholds) -> Verdict:
    """Pass or fail, and for each failed figure what to fix, in plain Vietnamese."""
    if f.error:
        return Verdict(
            False,
            (
                "Không nhận lại được hình ảnh và âm thanh qua cầu truyền hình "
                f"({f.error.rstrip('. ')}). "
                "Hãy kiểm tra kết nối mạng của điểm cầu và tường lửa (cho phép kết nối UDP), "
                "rồi kiểm tra lại; nếu vẫn lỗi, hãy gọi cho Ban Tiếp công dân tỉnh.",
            ),
        )
    problems: list[str] = []
    if f.rtt_ms >= t.max_rtt_ms:
        problems.append(
            f"Độ trễ khứ hồi {_num(f.rtt_ms)} ms, phải dưới {_num(t.max_rtt_ms)} ms: "
            "hãy dùng mạng cáp thay cho Wi-Fi/4G và tắt các máy đang tải dữ liệu nặng."
        )
    if f.loss_pct >= t.max_loss_pct:
        problems.append(
            f"Mất gói tin {_num(f.loss_pct, 1)}%, phải dưới {_num(t.max_loss_pct, 1)}%: "
            "đường truyền chập chờn, hãy kiểm tra dây mạng, bộ định tuyến hoặc báo nhà mạng."
        )
    if f.fps < t.min_fps:
        problems.append(
            f"Hình ảnh chỉ {_num(f.fps)} khung hình/giây, cần ít nhất {_num(t.min_fps)}: "
            "hãy bật đủ đèn trong phòng, đóng bớt chương trình trên máy hoặc đổi camera."
        )
    if f.width < t.min_width or f.height < t.min_height:
        problems.append(
            f"Độ phân giải {f.width}×{f.height}, cần ít nhất {t.min_width}×{t.min_height}: "
            "hãy chọn camera khác hoặc đặt camera ở chất lượng cao hơn."
        )
    if t.require_audio and not f.audio_level_seen:
        problems.append(
            "Không nhận được tiếng từ micrô: hãy kiểm tra micrô đã cắm, đã chọn đúng micrô "
            "và không bị tắt tiếng, rồi nói thử khi kiểm tra."
        )
    return Verdict(not problems, tuple(problems))
