"""The one configuration object, built from `TIEPDAN_*` environment variables at start."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge import EVENT_LOOPS, BridgeConfig, EventLoopKind, IceServer
from recording.config import MiB, RecordingConfig, setting_name
from scheduling.config import DeadlineMode, SchedulingConfig, SmtpConfig
from sessions.db import DatabaseConfig

# `Config.recording` left at this default is derived from `storage_url` and `var_dir`.
_DERIVED = RecordingConfig()


class ConfigError(ValueError):
    """A setting is wrong; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"
    time_zone: str = "Asia/Ho_Chi_Minh"
    var_dir: Path = Path("var")
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    storage_url: str = "file://var/recordings"
    secret_key: str = ""
    demo_password: str | None = None
    session_hours: int = 12
    max_body_bytes: int = 1024 * 1024
    # A document handed in (a scan, a PDF, a photo); an upload route reads up to a batch.
    max_document_bytes: int = 10 * 1024 * 1024
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    log_level: str = "INFO"
    trust_proxy: bool = False
    # Bearer token that opens /metrics to a client not on loopback; empty: loopback only.
    metrics_token: str = ""
    event_loop: EventLoopKind = "uvloop"  # what `tiepdan serve` runs on; "asyncio": the fallback
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    scheduling: SchedulingConfig = field(default_factory=SchedulingConfig)
    # Storage and recorder settings. Left out, they follow `storage_url` with the spool under
    # `var_dir`; given, their `storage_url` is the one used (and `storage_url` follows it).
    recording: RecordingConfig = field(default=_DERIVED)
    recording_autostart: bool = False  # start recording when a session goes live
    # How long a presigned URL to a recording in S3 works (replay from the store itself).
    presign_seconds: int = 300
    # A folder of TTF files for the PDFs of administrative documents; None: the Debian fonts
    # (Tinos, Liberation Serif) where installed (`web.paper.fonts`).
    document_font_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.recording is _DERIVED:
            spool = self.var_dir / "spool" / "recording"
            derived = replace(_DERIVED, storage_url=self.storage_url, spool_dir=spool)
            object.__setattr__(self, "recording", derived)
        elif self.recording.storage_url != self.storage_url:
            object.__setattr__(self, "storage_url", self.recording.storage_url)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def cookie_secure(self) -> bool:
        return self.public_base_url.startswith("https://")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        var_dir = Path(env.get("TIEPDAN_VAR_DIR", "var"))
        host = env.get("TIEPDAN_HOST", "127.0.0.1")
        port = _int(env, "TIEPDAN_PORT", 8080, 1, 65535)
        base = env.get("TIEPDAN_PUBLIC_BASE_URL", f"http://{host}:{port}").rstrip("/")
        if urlsplit(base).scheme not in ("http", "https"):
            raise ConfigError(
                f"TIEPDAN_PUBLIC_BASE_URL must start with http:// or https://: {base!r}"
            )
        tz = env.get("TIEPDAN_TIME_ZONE", "Asia/Ho_Chi_Minh")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"TIEPDAN_TIME_ZONE is not a known time zone: {tz!r}") from None
        db_url = env.get("TIEPDAN_DATABASE_URL", f"sqlite:///{var_dir / 'tiepdan.db'}")
        storage = env.get("TIEPDAN_STORAGE_URL", f"file://{(var_dir / 'recordings').resolve()}")
        level = env.get("TIEPDAN_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"TIEPDAN_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR: {level!r}")
        event_loop = env.get("TIEPDAN_EVENT_LOOP", "uvloop")
        if event_loop not in EVENT_LOOPS:
            raise ConfigError(f"TIEPDAN_EVENT_LOOP must be uvloop or asyncio: {event_loop!r}")
        return cls(
            host=host,
            port=port,
            public_base_url=base,
            time_zone=tz,
            var_dir=var_dir,
            database=DatabaseConfig(url=db_url, echo=env.get("TIEPDAN_DATABASE_ECHO") == "1"),
            storage_url=storage,
            secret_key=env.get("TIEPDAN_SECRET_KEY") or "",
            demo_password=env.get("TIEPDAN_DEMO_PASSWORD") or None,
            session_hours=_int(env, "TIEPDAN_SESSION_HOURS", 12, 1, 24 * 30),
            max_body_bytes=_int(env, "TIEPDAN_MAX_BODY_BYTES", 1024 * 1024, 1024, 1 << 30),
            max_document_bytes=_int(
                env, "TIEPDAN_MAX_DOCUMENT_BYTES", 10 * 1024 * 1024, 1024, 1 << 30
            ),
            login_max_failures=_int(env, "TIEPDAN_LOGIN_MAX_FAILURES", 5, 1, 1000),
            login_lock_minutes=_int(env, "TIEPDAN_LOGIN_LOCK_MINUTES", 15, 1, 24 * 60),
            log_level=level,
            trust_proxy=env.get("TIEPDAN_TRUST_PROXY", "0") == "1",
            metrics_token=_metrics_token(env),
            event_loop=event_loop,
            bridge=_bridge(env),
            scheduling=_scheduling(env, tz),
            recording=_recording(env, storage, var_dir),
            recording_autostart=_flag(env, "TIEPDAN_RECORDING_AUTOSTART", False),
            presign_seconds=_int(env, "TIEPDAN_PRESIGN_SECONDS", 300, 1, 3600),
            document_font_dir=Path(env["TIEPDAN_DOCUMENT_FONT_DIR"])
            if env.get("TIEPDAN_DOCUMENT_FONT_DIR")
            else None,
        )

    def with_secret(self) -> Config:
        """The config with a secret key: the given one, or one generated once and kept in
        `var/secret_key` (mode 600) so sessions survive restarts."""
        if self.secret_key:
            return self
        path = self.var_dir / "secret_key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        key = path.read_text().strip()
        from dataclasses import replace

        return replace(self, secret_key=key)


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number: {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}: {value}")
    return value


# RFC 6750's b64token, and long enough not to be guessed.
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/-]{32,}=*")


def _metrics_token(env: Mapping[str, str]) -> str:
    token = env.get("TIEPDAN_METRICS_TOKEN", "")
    if token and not _TOKEN_RE.fullmatch(token):
        # The value itself is a secret: not repeated in the message.
        raise ConfigError(
            "TIEPDAN_METRICS_TOKEN must be at least 32 characters of A-Z a-z 0-9 . _ ~ + / - "
            "(e.g. the output of `openssl rand -hex 32`)"
        )
    return token


def _bridge(env: Mapping[str, str]) -> BridgeConfig:
    servers: list[IceServer] = []
    urls = tuple(u.strip() for u in env.get("TIEPDAN_ICE_SERVERS", "").split(",") if u.strip())
    for url in urls:
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ConfigError(
                f"TIEPDAN_ICE_SERVERS: each URL starts with stun:, turn: or turns:: {url!r}"
            )
    stun = tuple(u for u in urls if u.startswith("stun:"))
    turn = tuple(u for u in urls if not u.startswith("stun:"))
    if stun:
        servers.append(IceServer(stun))
    if turn:
        servers.append(
            IceServer(turn, env.get("TIEPDAN_TURN_USERNAME"), env.get("TIEPDAN_TURN_PASSWORD"))
        )
    grace = _int(env, "TIEPDAN_BRIDGE_GRACE_SECONDS", 30, 1, 3600)
    return BridgeConfig(ice_servers=tuple(servers), grace_period=float(grace))


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw not in ("0", "1"):
        raise ConfigError(f"{name} must be 0 or 1: {raw!r}")
    return raw == "1"


def _recording(env: Mapping[str, str], storage_url: str, var_dir: Path) -> RecordingConfig:
    """The recording package's settings. The URL itself is checked when the store is opened
    at start (`recording.open_storage`), which names the variable to fix."""
    spool = env.get(setting_name("spool_dir")) or str(var_dir / "spool" / "recording")
    try:
        return RecordingConfig(
            storage_url=storage_url,
            s3_endpoint_url=env.get(setting_name("s3_endpoint_url")) or None,
            s3_region=env.get(setting_name("s3_region")) or "us-east-1",
            s3_access_key=env.get(setting_name("s3_access_key")) or None,
            s3_secret_key=env.get(setting_name("s3_secret_key")) or None,
            s3_path_style=_flag(env, setting_name("s3_path_style"), True),
            spool_dir=Path(spool),
            # S3 wants parts of at least 5 MiB (except the last).
            multipart_chunk_size=_int(
                env, setting_name("multipart_chunk_size"), 16 * MiB, 5 * MiB, 5 * 1024 * MiB
            ),
            object_lock_retention_days=_int(
                env, setting_name("object_lock_retention_days"), 0, 0, 100 * 366
            ),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _scheduling(env: Mapping[str, str], tz: str) -> SchedulingConfig:
    raw = env.get("TIEPDAN_READINESS_DEADLINE", "15:00")
    hh, _, mm = raw.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ConfigError(f"TIEPDAN_READINESS_DEADLINE must be a time HH:MM: {raw!r}")
    mode = env.get("TIEPDAN_READINESS_DAY", "calendar")
    if mode not in ("calendar", "working"):
        raise ConfigError(f"TIEPDAN_READINESS_DAY must be calendar or working: {mode!r}")
    lead = _int(env, "TIEPDAN_REMINDER_LEAD_MINUTES", 180, 0, 7 * 24 * 60)
    return SchedulingConfig(
        time_zone=tz,
        deadline_hour=int(hh),
        deadline_minute=int(mm),
        deadline_mode=DeadlineMode(mode),
        reminder_lead=timedelta(minutes=lead),
        open_lead=timedelta(minutes=_int(env, "TIEPDAN_OPEN_LEAD_MINUTES", 60, 0, 24 * 60)),
        smtp=_smtp(env),
    )


def _smtp(env: Mapping[str, str]) -> SmtpConfig | None:
    """E-mail for reminders; none (in the app only) unless TIEPDAN_SMTP_HOST is set."""
    host = env.get("TIEPDAN_SMTP_HOST", "").strip()
    if not host:
        return None
    if "/" in host or any(c.isspace() for c in host):
        raise ConfigError(f"TIEPDAN_SMTP_HOST must be a host name or address: {host!r}")
    username = env.get("TIEPDAN_SMTP_USERNAME") or None
    password = env.get("TIEPDAN_SMTP_PASSWORD") or None
    if password and not username:
        raise ConfigError("TIEPDAN_SMTP_PASSWORD is set without TIEPDAN_SMTP_USERNAME")
    sender = env.get("TIEPDAN_SMTP_FROM", "").strip()
    _, addr = parseaddr(sender)
    if not sender or "@" not in addr or any(c in sender for c in "\r\n"):
        raise ConfigError(
            f"TIEPDAN_SMTP_FROM must be the sender's address, e.g. tcd@example.gov.vn: {sender!r}"
        )
    return SmtpConfig(
        host=host,
        port=_int(env, "TIEPDAN_SMTP_PORT", 587, 1, 65535),
        username=username,
        password=password,
        sender=sender,
        starttls=_flag(env, "TIEPDAN_SMTP_STARTTLS", True),
    )
