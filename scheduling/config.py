"""The scheduling package's settings, with their defaults. Built once by the composition root."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo


class DeadlineMode(enum.StrEnum):
    """Which "day before" the readiness deadline falls on."""

    CALENDAR = "calendar"  # the calendar day before the session
    WORKING = "working"  # the working day before (skips weekends and holidays)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a readiness check must measure to pass (issue 5: provincial plans' figures)."""

    max_rtt_ms: float = 300.0  # round-trip time strictly under this
    max_loss_pct: float = 3.0  # packet loss strictly under this
    min_fps: float = 15.0  # at least this frame rate
    min_width: int = 640  # at least this resolution
    min_height: int = 360
    require_audio: bool = True  # the microphone's level must have been seen
    # Heard: the loudest RFC 6464 level the bridge saw reached this (-60 dBov, the level a
    # browser's meter starts to show).
    min_audio_dbov: float = -60.0
    # The bridge must have received this long of picture before it judges anything.
    min_media_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where reminders go by e-mail. Absent (None on `SchedulingConfig.smtp`): in the app only."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    # The From header: "tcd@example.gov.vn" or "Ban Tiếp công dân <tcd@example.gov.vn>".
    sender: str = "tiepdan@localhost"
    starttls: bool = True
    timeout: float = 30.0  # seconds, for each blocking socket operation
    # A mail that fails is tried again on later ticks, this many times in all.
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if not self.host or not 1 <= self.port <= 65535:
            raise ValueError(f"SMTP server must be a host and a port: {self.host!r}:{self.port}")
        if self.timeout <= 0 or self.max_attempts < 1:
            raise ValueError(
                f"SMTP timeout must be > 0 and attempts >= 1: {self.timeout}, {self.max_attempts}"
            )


@dataclass(frozen=True, slots=True)
class SchedulingConfig:
    time_zone: str = "Asia/Ho_Chi_Minh"
    # Endpoints are connected and tested before 15:00 of the day before (DOMAIN.md).
    deadline_hour: int = 15
    deadline_minute: int = 0
    deadline_mode: DeadlineMode = DeadlineMode.CALENDAR
    # Focal staff of endpoints not yet passed are reminded this long before the deadline.
    reminder_lead: timedelta = timedelta(hours=3)
    # A check counts for every session of the endpoint starting within this window.
    check_window: timedelta = timedelta(days=14)
    thresholds: Thresholds = field(default_factory=Thresholds)
    # How often the reminder service looks at the clock.
    tick_seconds: float = 60.0
    # How often the readiness board's live feed looks again (deadlines pass with the clock).
    board_tick_seconds: float = 5.0
    # How long the check page measures the media that comes back through the bridge.
    check_seconds: float = 10.0
    # No returned picture and sound within this long: the check fails (the media is not back).
    check_media_timeout_seconds: float = 20.0
    # Reminders and alerts are also e-mailed when this is set.
    smtp: SmtpConfig | None = None
    # A scheduled session may be opened (made live) from this long before its start.
    open_lead: timedelta = timedelta(minutes=60)

    def __post_init__(self) -> None:
        if not 0 <= self.deadline_hour <= 23 or not 0 <= self.deadline_minute <= 59:
            raise ValueError(
                f"readiness deadline must be a time of day: "
                f"{self.deadline_hour:02d}:{self.deadline_minute:02d}"
            )
        if self.reminder_lead < timedelta(0) or self.check_window <= timedelta(0):
            raise ValueError("reminder lead must be >= 0 and check window > 0")
        if self.open_lead < timedelta(0):
            raise ValueError(f"open lead must be >= 0: {self.open_lead}")
        if self.tick_seconds <= 0 or self.board_tick_seconds <= 0:
            raise ValueError(
                f"ticks must be positive: {self.tick_seconds}, {self.board_tick_seconds}"
            )
        if self.check_seconds < 10 or self.check_media_timeout_seconds <= 0:
            raise ValueError(
                f"a readiness check measures at least 10 s: {self.check_seconds}"
                f" (media timeout {self.check_media_timeout_seconds})"
            )
        ZoneInfo(self.time_zone)  # raises for an unknown zone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)
