"""The processes of `tiepdan bench echo`: tiepdan (`tiepdan serve` on a temporary SQLite
database seeded with one focal-staff account per page), Janus (Debian's package, configured
here on 127.0.0.1 with only the echotest plugin and the HTTP transport) and the optional CPU
hog. Each is a context manager that stops its process (and the process's group) on the way
out, whatever happened; `cpu_seconds` reads a process tree's CPU from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sessions.accounts import hash_password
from sessions.db import DatabaseConfig, create_engine, session_factory, transaction, upgrade
from sessions.models import Account, AccountRole, Endpoint, Role
from sessions.seed import ensure_province
from sessions.text import nfc, search_key

START_LIMIT = 60.0
STOP_GRACE = 10.0
JANUS = "/usr/bin/janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerFailed(RuntimeError):
    """A server did not start, or stopped on its own: the message says which and why."""


# -- CPU from /proc ------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime + stime in seconds) of a process, every thread included."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and of its live descendants (a server's helper processes)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                parents[int(entry)], times[int(entry)] = st
    if pid not in times:
        raise ServerFailed(f"process {pid} is gone: its CPU cannot be read")
    tree, total = {pid}, 0.0
    for p in sorted(times):  # children have higher pids, except after pid wrap-around
        if p == pid or parents.get(p) in tree:
            tree.add(p)
    for p in tree:
        total += times[p]
    return total


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's own group (it was started in a new session), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # what the leader left in its group
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def _process(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield proc.pid
    finally:
        _stop(proc)


def _wait_http(url: str, pid: int, log: Path, what: str) -> None:
    """Wait until `url` answers (any HTTP status), or fail with the end of the log."""
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        if _stat(pid) is None or _zombie(pid):
            raise ServerFailed(f"{what} stopped at start: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2.0):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)  # polling the condition, within the deadline
    raise ServerFailed(f"{what} did not answer at {url} within {START_LIMIT:.0f} s: {_tail(log)}")


def _zombie(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return raw[raw.rindex(")") + 2] == "Z"


def _tail(log: Path, chars: int = 600) -> str:
    try:
        return log.read_text(errors="replace")[-chars:].strip() or "(no output)"
    except OSError:
        return "(no log)"


def check_alive(pid: int, what: str, log: Path) -> None:
    if _stat(pid) is None or _zombie(pid):
        raise ServerFailed(f"{what} stopped during the run: {_tail(log)}")


# -- tiepdan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seat:
    """One page's login: a focal-staff account and the endpoint whose test room it uses."""

    username: str
    password: str
    endpoint_id: int


@dataclass(frozen=True, slots=True)
class Running:
    pid: int
    base_url: str
    log: Path


async def _seed(url: str, pages: int, password: str) -> list[Seat]:
    engine = create_engine(DatabaseConfig(url=url))
    seats: list[Seat] = []
    try:
        async with transaction(session_factory(engine)) as db:
            root = await ensure_province(db, "Tỉnh đo hiệu năng")
            pw_hash = hash_password(password)
            for i in range(1, pages + 1):
                name = nfc(f"Điểm cầu đo hiệu năng {i}")
                ep = Endpoint(unit_id=root.unit_id, name=name, name_key=search_key(name))
                db.add(ep)
                await db.flush()
                full = nfc(f"Cán bộ đầu mối {i}")
                db.add(
                    Account(
                        username=f"echo{i}",
                        full_name=full,
                        name_key=search_key(full),
                        unit_id=root.unit_id,
                        endpoint_id=ep.id,
                        password_hash=pw_hash,
                        roles=[AccountRole(role=Role.FOCAL_STAFF)],
                    )
                )
                seats.append(Seat(f"echo{i}", password, ep.id))
            await db.flush()
    finally:
        await engine.dispose()
    return seats


@contextmanager
def tiepdan(root: Path, pages: int) -> Iterator[tuple[Running, list[Seat]]]:
    """`tiepdan serve` in its own process on a fresh SQLite database under `root`."""
    var = root / "tiepdan"
    var.mkdir(parents=True)
    url = f"sqlite:///{var / 'bench.db'}"
    migrations = logging.getLogger("alembic")
    level = migrations.level
    migrations.setLevel(logging.WARNING)  # the report is what this command prints
    try:
        upgrade(url)
    finally:
        migrations.setLevel(level)
    seats = asyncio.run(_seed(url, pages, secrets.token_urlsafe(12)))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEPDAN_")}
    env |= {
        "TIEPDAN_VAR_DIR": str(var),
        "TIEPDAN_DATABASE_URL": url,
        "TIEPDAN_STORAGE_URL": f"file://{var / 'recordings'}",
        "TIEPDAN_HOST": "127.0.0.1",
        "TIEPDAN_PORT": str(port),
        "TIEPDAN_SECRET_KEY": secrets.token_hex(32),
        "TIEPDAN_LOG_LEVEL": "WARNING",
    }
    log = root / "tiepdan.log"
    with _process([sys.executable, "-m", "web.cli", "serve"], log, env) as pid:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/login", pid, log, "tiepdan serve")
        yield Running(pid, base, log), seats


# -- Janus -----------------------------------------------------------------------------------


def janus_config(conf: Path, lib: Path, http_port: int, rtp_ports: tuple[int, int]) -> Path:
    """Janus's configuration under `conf`: the core, the HTTP transport on 127.0.0.1 and the
    echotest plugin, each folder holding only the module it loads; ICE on loopback only."""
    for folder, module in (("plugins", "libjanus_echotest.so"), ("transports", "libjanus_http.so")):
        (conf / folder).mkdir(parents=True)
        (conf / folder / module).symlink_to(lib / folder / module)
    (conf / "none").mkdir()
    core = f"""general: {{
\tconfigs_folder = "{conf}"
\tplugins_folder = "{conf / "plugins"}"
\ttransports_folder = "{conf / "transports"}"
\tevents_folder = "{conf / "none"}"
\tloggers_folder = "{conf / "none"}"
\tinterface = "127.0.0.1"
\tdebug_level = 3
\tsession_timeout = 60
}}
media: {{
\trtp_port_range = "{rtp_ports[0]}-{rtp_ports[1]}"
}}
nat: {{
\tnice_debug = false
\tice_enforce_list = "lo"
\tignore_mdns = true
}}
"""
    (conf / "janus.jcfg").write_text(core)
    (conf / "janus.transport.http.jcfg").write_text(
        "general: {\n"
        '\tjson = "plain"\n\tbase_path = "/janus"\n\thttp = true\n'
        f'\tport = {http_port}\n\tip = "127.0.0.1"\n\thttps = false\n}}\n'
        "admin: {\n\tadmin_http = false\n}\n"
    )
    (conf / "janus.plugin.echotest.jcfg").write_text("general: {\n}\n")
    return conf / "janus.jcfg"


@contextmanager
def janus(root: Path) -> Iterator[Running]:
    """Janus from Debian's package, configured under `root`, in its own process."""
    if shutil.which(JANUS) is None:
        raise ServerFailed(f"{JANUS} is missing: `make bench` installs Debian's janus package")
    port = free_port()
    base_rtp = 20000 + (port % 200) * 200  # a range of its own, away from other runs'
    conf = janus_config(root / "janus", JANUS_LIB, port, (base_rtp, base_rtp + 199))
    log = root / "janus.log"
    with _process([JANUS, "-C", str(conf), "-F", str(conf.parent)], log) as pid:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/janus/info", pid, log, "janus")
        yield Running(pid, base, log)


# -- the hog ---------------------------------------------------------------------------------


@contextmanager
def hog(root: Path) -> Iterator[int]:
    """A busy loop on one core for as long as the block lasts (`--hog`)."""
    with _process([sys.executable, "-c", "while True: pass"], root / "hog.log") as pid:
        yield pid
