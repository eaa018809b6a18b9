"""What the fuzz suites share: one seed per run, printed so that a failure can be replayed
(`TIEPDAN_FUZZ_SEED=<seed> pytest ...`), bounded settings, and JSON-ish values that find the
edges: wrong types, huge and non-finite numbers, deep nesting, unicode, lone surrogates."""

from __future__ import annotations

import os
import random
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

FUZZ_SEED = int(os.environ.get("TIEPDAN_FUZZ_SEED") or random.SystemRandom().randrange(2**32))


def fuzz_settings(max_examples: int) -> settings:
    """Bounded and replayable: no deadline (the database sets the pace), no shrinking (an
    example is dozens of requests; the failing one is reported with every value drawn), no
    example database written into the work tree."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Text with what breaks things: Vietnamese in both normal forms, non-ASCII digits, controls,
# lone surrogates (JSON can escape them), and plain ASCII.
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(
        [
            "",
            " ",
            "Nguyễn Văn An",
            "Nguye\u0302\u0303n",
            "٣",
            "²",
            "３",
            "\x00",
            "\ud800",
            "a" * 5000,
            "2026-W52-5",
            "9999-12-31",
            "0001-01-01",
            "2026-12-01T08:00:00+07:00",
            "land",
            "complaint",
            "holiday",
            "admin",
        ]
    ),
)
HUGE_INTS = st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**30, 10**150])  # 4,301 digits: raw
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-2, max_value=5),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)


def json_objects(field_names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of known fields with any values, sometimes with unknown fields beside."""
    known = st.dictionaries(st.sampled_from(field_names), JSON_VALUES, max_size=8)
    unknown = st.dictionaries(TEXT, JSON_VALUES, max_size=2)
    return st.one_of(known, st.builds(lambda a, b: {**b, **a}, known, unknown))
