"""The Grafana dashboard in deploy/ and the README against what /metrics exports: a renamed
or removed metric fails here instead of leaving an empty panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import request

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "tiepdan.json"
NAME = re.compile(r"\btiepdan_[a-z0-9_]+\b")
# Families of the bridge and the recorder (the HTTP ones predate the dashboard's rule).
WATCHED = ("tiepdan_bridge_", "tiepdan_recording_", "tiepdan_event_loop_")

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def expressions(node: Any) -> list[str]:
    """Every PromQL text in the dashboard: panel targets and template variable queries."""
    found: list[str] = []
    if isinstance(node, dict) and node.get("type") == "datasource":
        return found  # the data source picker: its "query" is a plugin type, not PromQL
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found += expressions(value)
    elif isinstance(node, list):
        for item in node:
            found += expressions(item)
    return found


async def exported(client: TestClient[Any, Any]) -> dict[str, str]:
    """Each family /metrics declares (even one with no sample yet) and its type."""
    reply = await request(client, "GET", "/metrics")
    assert reply.status == 200, reply.text
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", reply.text, re.MULTILINE))


def series_names(families: dict[str, str]) -> set[str]:
    """The series names a query may use: a histogram's _bucket, _sum and _count."""
    names = set()
    for name, kind in families.items():
        suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
        names |= {name + suffix for suffix in suffixes}
    return names


def base(name: str) -> str:
    return re.sub(r"_(total|bucket|sum|count)$", "", name)


async def test_every_dashboard_expression_names_an_exported_metric(
    client: TestClient[Any, Any],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels and all(p["targets"] for p in panels), "every panel queries something"
    queries = expressions(dashboard)
    assert len(queries) >= len(panels)
    available = series_names(await exported(client))
    for query in queries:
        used = NAME.findall(query)
        assert used, f"a query that names no tiepdan metric: {query!r}"
        missing = [n for n in used if n not in available]
        assert not missing, f"{missing} in {query!r} are not exported by /metrics"


async def test_every_watched_metric_is_on_the_dashboard_and_in_the_readme(
    client: TestClient[Any, Any],
) -> None:
    families = await exported(client)
    watched = {base(n) for n in families if n.startswith(WATCHED)}
    assert len(watched) >= 20, sorted(watched)
    on_dashboard = {
        base(n) for q in expressions(json.loads(DASHBOARD.read_text())) for n in NAME.findall(q)
    }
    assert not watched - on_dashboard, f"no panel shows {sorted(watched - on_dashboard)}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    undocumented = sorted(n for n in watched if n not in readme)
    assert not undocumented, f"README does not list {undocumented}"
