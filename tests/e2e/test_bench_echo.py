"""`tiepdan bench echo` end to end: a real run, one page per server, against tiepdan's test
room and Janus's echotest; and Ctrl-C in the middle of a run leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from web.bench_echo import servers

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "web.cli", "bench", "echo"]


def _bench(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_one_page_per_server_gives_both_sides_figures_and_the_ratio() -> None:
    done = _bench("--browsers", "1", "--duration", "4", "--warmup", "2", "--json", timeout=150)
    out = done.stdout.strip().splitlines()
    assert out, done.stderr
    result: dict[str, Any] = json.loads(out[-1])
    assert result["valid"] is True, (result["invalid_reason"], done.stdout)
    assert done.returncode == 0
    assert result["browsers"] == 1
    for side in ("tiepdan", "janus"):
        # From the page's getStats: its own camera came back at full size, at a frame rate.
        assert result[f"{side}_resolution_min"] == "640x480", result
        assert result[f"{side}_fps_min"] >= 10, result
        assert result[f"{side}_kbps_mean"] > 50, result
        assert result[f"{side}_camera_fps"] > 0 and result[f"{side}_sent_fps_min"] > 0, result
        # From /proc: the server worked for it, and not more than a core per stream.
        assert 0 < result[f"{side}_cpu_per_stream_pct"] < 100, result
    ratio = result["tiepdan_cpu_per_stream_pct"] / result["janus_cpu_per_stream_pct"]
    assert result["ratio_vs_janus"] == pytest.approx(ratio, rel=0.01)
    share = result["tiepdan_kbps_mean"] / result["janus_kbps_mean"]
    assert result["comparable"] is (share >= 0.9)
    assert "ratio tiepdan / Janus" in done.stdout


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        try:
            raw = Path(f"/proc/{entry}/stat").read_text() if entry.isdigit() else ""
        except OSError:
            continue
        if raw:
            parents[int(entry)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    found = {pid}
    for _ in range(8):  # a few generations: bench → playwright driver → chromium → renderer
        found |= {p for p, parent in parents.items() if parent in found}
    return found - {pid}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _names(pids: set[int]) -> set[str]:
    out = set()
    for p in pids:
        with contextlib.suppress(OSError):
            out.add(Path(f"/proc/{p}/comm").read_text().strip())
    return out


def test_ctrl_c_in_a_run_stops_the_server_the_browser_and_the_hog() -> None:
    proc = subprocess.Popen(
        [*COMMAND, "--browsers", "1", "--duration", "30", "--warmup", "30", "--hog"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        seen: set[int] = set()
        while time.monotonic() < deadline:  # until the tiepdan side's pages run
            seen |= _descendants(proc.pid)
            if any("chrom" in n for n in _names(seen)) and len(seen) >= 4:
                break
            time.sleep(0.2)
        names = [Path(f"/proc/{p}/cmdline").read_bytes() for p in seen if _alive(p)]
        assert any(b"web.cli\0serve" in n for n in names), "the tiepdan server runs"
        assert any(b"while True" in n for n in names), "the hog runs"
        assert any(b"chromium" in n for n in names), "the browser runs"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    left = {p for p in seen if _alive(p)}
    assert not left, _names(left)


def test_a_stopped_block_leaves_its_process_gone_and_its_cpu_was_read(tmp_path: Path) -> None:
    with servers.hog(tmp_path) as pid:
        deadline = time.monotonic() + 10
        while servers.cpu_seconds(pid) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert servers.cpu_seconds(pid) >= 0.2
    assert not _alive(pid)
    with pytest.raises(servers.ServerFailed, match="is gone"):
        servers.cpu_seconds(pid)
