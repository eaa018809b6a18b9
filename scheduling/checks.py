"""Judging a readiness check against the thresholds (pure).

The verdict stands on what the bridge itself measured of the endpoint's media in its test
room (`Measured`: its receive statistics and the endpoint's RTCP receiver reports). What
the check page measured in the browser (`Figures`) is kept beside it, never decisive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from scheduling.config import Thresholds


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of a check, the shape stored since the first checks: what the check page
    measured in the browser (reported), or the bridge's figures in the same terms."""

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
class Measured:
    """What the bridge measured of the endpoint's media in the test room (`web/` fills it
    from `bridge.Bridge.measurement`)."""

    video_packets: int
    audio_packets: int
    seconds: float  # of picture received
    rtt_ms: float | None  # from the endpoint's receiver reports; None when none came back
    upstream_loss_pct: float  # on the way to the bridge: its receive statistics
    downstream_loss_pct: float  # on the way back: the endpoint's receiver reports
    jitter_ms: float  # of the picture, as it reached the bridge
    returned_jitter_ms: float | None  # of what came back, as the endpoint reported it
    bitrate_kbps: float  # picture and sound, as they reached the bridge
    fps: float
    width: int
    height: int
    loudest_dbov: float | None  # the loudest RFC 6464 level heard; None when none came

    @property
    def nothing(self) -> bool:
        return not self.video_packets and not self.audio_packets

    @property
    def loss_pct(self) -> float:
        """The round trip's loss: to the bridge, then back through it."""
        kept = (1 - self.upstream_loss_pct / 100) * (1 - self.downstream_loss_pct / 100)
        return round(100 * (1 - kept), 2)

    def heard(self, t: Thresholds) -> bool:
        return self.loudest_dbov is not None and self.loudest_dbov >= t.min_audio_dbov

    def figures(self, t: Thresholds) -> Figures:
        return Figures(
            rtt_ms=self.rtt_ms or 0.0,
            loss_pct=self.loss_pct,
            jitter_ms=self.jitter_ms,
            bitrate_kbps=self.bitrate_kbps,
            fps=self.fps,
            width=self.width,
            height=self.height,
            audio_level_seen=self.heard(t),
        )

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


def _rtt(f: Figures, t: Thresholds) -> str | None:
    if f.rtt_ms < t.max_rtt_ms:
        return None
    return (
        f"Độ trễ khứ hồi {_num(f.rtt_ms)} ms, phải dưới {_num(t.max_rtt_ms)} ms: "
        "hãy dùng mạng cáp thay cho Wi-Fi/4G và tắt các máy đang tải dữ liệu nặng."
    )


def _loss(f: Figures, t: Thresholds) -> str | None:
    if f.loss_pct < t.max_loss_pct:
        return None
    return (
        f"Mất gói tin {_num(f.loss_pct, 1)}%, phải dưới {_num(t.max_loss_pct, 1)}%: "
        "đường truyền chập chờn, hãy kiểm tra dây mạng, bộ định tuyến hoặc báo nhà mạng."
    )


def _fps(f: Figures, t: Thresholds) -> str | None:
    if f.fps >= t.min_fps:
        return None
    return (
        f"Hình ảnh chỉ {_num(f.fps)} khung hình/giây, cần ít nhất {_num(t.min_fps)}: "
        "hãy bật đủ đèn trong phòng, đóng bớt chương trình trên máy hoặc đổi camera."
    )


def _size(f: Figures, t: Thresholds) -> str | None:
    if f.width >= t.min_width and f.height >= t.min_height:
        return None
    return (
        f"Độ phân giải {f.width}×{f.height}, cần ít nhất {t.min_width}×{t.min_height}: "
        "hãy chọn camera khác hoặc đặt camera ở chất lượng cao hơn."
    )


def _audio(f: Figures, t: Thresholds) -> str | None:
    if not t.require_audio or f.audio_level_seen:
        return None
    return (
        "Không nhận được tiếng từ micrô: hãy kiểm tra micrô đã cắm, đã chọn đúng micrô "
        "và không bị tắt tiếng, rồi nói thử khi kiểm tra."
    )


Check = Callable[[Figures, Thresholds], str | None]
PICTURE_CHECKS: tuple[Check, ...] = (_fps, _size)
ALL_CHECKS: tuple[Check, ...] = (_rtt, _loss, *PICTURE_CHECKS, _audio)


def evaluate(f: Figures, t: Thresholds) -> Verdict:
    """Pass or fail figures, and for each failed figure what to fix, in plain Vietnamese."""
    problems = [p for check in ALL_CHECKS if (p := check(f, t)) is not None]
    return Verdict(not problems, tuple(problems))


NO_MEDIA_SHORT = "Cầu truyền hình chưa nhận được hình ảnh và âm thanh từ điểm cầu"


def no_media(reported_error: str = "") -> str:
    note = f" (trình duyệt báo: {reported_error.rstrip('. ')})" if reported_error else ""
    return (
        f"{NO_MEDIA_SHORT} trong phòng kiểm tra{note}. Hãy mở trang “Kiểm tra kết nối "
        "điểm cầu”, bấm “Bắt đầu kiểm tra” và để trang chạy đến khi có kết quả; nếu vẫn "
        "lỗi, hãy kiểm tra kết nối mạng của điểm cầu và tường lửa (cho phép kết nối UDP), "
        "hoặc gọi cho Ban Tiếp công dân tỉnh."
    )


NO_PICTURE = (
    "Cầu truyền hình không nhận được hình ảnh từ camera của điểm cầu: hãy kiểm tra camera "
    "đã cắm, đã chọn đúng camera và không bị chương trình khác dùng, rồi kiểm tra lại."
)
NO_RTT = (
    "Chưa đo được độ trễ khứ hồi: cầu truyền hình chưa nhận được báo cáo (RTCP) của trình "
    "duyệt về hình ảnh, âm thanh gửi lại; hãy để trang kiểm tra chạy đến khi có kết quả, "
    "kiểm tra tường lửa (cho phép kết nối UDP) rồi kiểm tra lại."
)


def _too_short(m: Measured, t: Thresholds) -> str:
    return (
        f"Cầu truyền hình mới nhận được {_num(m.seconds, 1)} giây hình ảnh, cần ít nhất "
        f"{_num(t.min_media_seconds)} giây: hãy để trang kiểm tra chạy đến khi có kết quả."
    )


def judge(m: Measured | None, t: Thresholds, reported_error: str = "") -> Verdict:
    """The verdict on what the bridge measured. Nothing measured (nobody in the test room,
    no packet received) fails, whatever the browser reported; its error only explains."""
    if m is None or m.nothing:
        return Verdict(False, (no_media(reported_error),))
    problems: list[str] = []
    if m.rtt_ms is None:
        problems.append(NO_RTT)
    if not m.video_packets:
        problems.append(NO_PICTURE)
    elif m.seconds < t.min_media_seconds:
        problems.append(_too_short(m, t))
    # Picture figures of no picture (or of a moment of it) would only repeat the above.
    picture = bool(m.video_packets) and m.seconds >= t.min_media_seconds
    wanted = [
        c
        for c in ALL_CHECKS
        if not (c is _rtt and m.rtt_ms is None) and (picture or c not in PICTURE_CHECKS)
    ]
    f = m.figures(t)
    problems += [p for c in wanted if (p := c(f, t)) is not None]
    return Verdict(not problems, tuple(problems))


def stored(m: Measured | None, reported: Figures, t: Thresholds) -> dict[str, Any]:
    """What is kept of a check: the bridge's figures at the top (the keys stored since the
    first checks, now the verdict's basis), its details under "bridge" and the browser's
    own under "browser" (reported, shown beside)."""
    if m is None or m.nothing:
        basis: dict[str, Any] = {"error": NO_MEDIA_SHORT}
        detail = None
    else:
        basis = m.figures(t).as_dict() | {"rtt_ms": m.rtt_ms}
        detail = m.as_dict()
    return basis | {"measured_by": "bridge", "bridge": detail, "browser": reported.as_dict()}
