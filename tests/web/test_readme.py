"""The README is true for a clone: no documents it does not have, every command and option of
the CLI, every TIEPDAN_ variable the configuration reads, the calls of a reception day."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from web import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_it_points_at_nothing_a_clone_lacks() -> None:
    assert "../shared" not in README and "## Terms" in README
    assert "apt-get" in README and "11–15 minutes" in README


def _commands(p: argparse.ArgumentParser, prefix: str) -> list[tuple[str, list[str]]]:
    out = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out += _commands(child, f"{prefix} {name}")
    if not out:
        options = [o for a in p._actions for o in a.option_strings if o.startswith("--")]
        out.append((prefix, [o for o in options if o != "--help"]))
    return out


def test_every_command_and_option_is_there() -> None:
    for command, options in _commands(cli.parser(), "tiepdan"):
        assert command in README, command
        for option in options:
            assert option in README, (command, option)


def test_every_variable_is_there() -> None:
    source = (ROOT / "web" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r"\"(TIEPDAN_[A-Z0-9_]+)\"", source))
    assert len(names) > 20
    missing = sorted(n for n in names if n not in README)
    assert not missing, missing


def test_the_calls_of_a_reception_day_are_there() -> None:
    for path in (
        "/api/v1/sessions/{id}/open",
        "/api/v1/sessions/{id}/close",
        "/api/v1/sessions/{id}/recording",
        "/api/v1/sessions/{id}/recordings",
        "/api/v1/sessions/{id}/exports",
        "/api/v1/sessions/{id}/readiness",
        "/api/v1/openapi.json",
    ):
        assert path in README, path
