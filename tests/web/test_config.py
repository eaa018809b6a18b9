"""Settings read from the environment: defaults, accepted values, and errors that name the
variable."""

from __future__ import annotations

import pytest

from web.config import Config, ConfigError


def test_the_event_loop_is_uvloop_unless_asyncio_is_asked_for() -> None:
    assert Config.from_env({}).event_loop == "uvloop"
    assert Config.from_env({"TIEPDAN_EVENT_LOOP": "uvloop"}).event_loop == "uvloop"
    assert Config.from_env({"TIEPDAN_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"


@pytest.mark.parametrize("value", ["trio", "", "UVLOOP", "selector"])
def test_an_unknown_event_loop_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match=r"TIEPDAN_EVENT_LOOP must be uvloop or asyncio") as info:
        Config.from_env({"TIEPDAN_EVENT_LOOP": value})
    assert repr(value) in str(info.value)
