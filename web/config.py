"""The one configuration object, built from `TIEPDAN_*` environment variables at start."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sessions.db import DatabaseConfig


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
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    log_level: str = "INFO"
    trust_proxy: bool = False

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
            login_max_failures=_int(env, "TIEPDAN_LOGIN_MAX_FAILURES", 5, 1, 1000),
            login_lock_minutes=_int(env, "TIEPDAN_LOGIN_LOCK_MINUTES", 15, 1, 24 * 60),
            log_level=level,
            trust_proxy=env.get("TIEPDAN_TRUST_PROXY", "0") == "1",
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
