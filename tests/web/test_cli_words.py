"""The operator's command line speaks Vietnamese: its help, and a port it cannot take."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

from web import cli


def test_a_busy_port_is_one_vietnamese_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = os.environ | {
            "TIEPDAN_PORT": str(port),
            "TIEPDAN_VAR_DIR": str(tmp_path),
            "TIEPDAN_EVENT_LOOP": "asyncio",
            "TIEPDAN_LOG_LEVEL": "WARNING",  # the migrations' log lines
        }
        done = subprocess.run(
            [sys.executable, "-m", "web.cli", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "phục vụ tại" not in done.stdout, done.stdout
    # Log records are JSON lines, for the journal; the operator's message is the other line.
    lines = [line for line in done.stderr.splitlines() if line.strip() and line[0] != "{"]
    assert len(lines) == 1, done.stderr
    assert str(port) in lines[0] and "TIEPDAN_PORT" in lines[0] and "đang được" in lines[0]


def _parsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [p]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                out += _parsers(child)
    return out


def test_cli_help_is_vietnamese() -> None:
    # The finding: "serve the web app and the bridge", "usage:", "show this help message".
    parsers = _parsers(cli.parser())
    assert len(parsers) > 10
    for p in parsers:
        text = p.format_help()
        for english in ("usage:", "options:", "positional arguments", "show this help"):
            assert english not in text, (p.prog, text)
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = [c.help for c in action._choices_actions]
            else:
                helps = [action.help]
            for h in helps:
                assert h and not h.isascii(), (p.prog, action.dest, h)
