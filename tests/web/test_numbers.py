"""Numbers in Vietnamese notation everywhere ("9,2 giây, 0,6 MB"): one formatter for pages
(the `num` filter) and its twin for scripts (web/static/js/numbers.js), and nothing else."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from web.pages.numbers import megabytes, number

WEB = Path(__file__).resolve().parents[2] / "web"
CASES: list[tuple[float | int, int | None, str]] = [
    (9.2, 1, "9,2"),
    (0.6, None, "0,6"),
    (1234567, None, "1.234.567"),
    (1234.5, 1, "1.234,5"),
    (-3.25, 2, "-3,25"),
    (3, None, "3"),
    (0.1 + 0.2, None, "0,3"),
]


@pytest.mark.parametrize(("value", "digits", "text"), CASES)
def test_python_formats_in_vietnamese(value: float, digits: int | None, text: str) -> None:
    assert number(value, digits) == text
    assert megabytes(629146) == "0,6 MB"


def test_javascript_formats_the_same() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    module = (WEB / "static" / "js" / "numbers.js").as_uri()
    cases = [(v, d) for v, d, _ in CASES if d is not None] + [(1234567, 0)]
    script = (
        f"import {{ formatNumber, formatMegabytes }} from '{module}';"
        f"const cases = {json.dumps(cases)};"
        "console.log(JSON.stringify([...cases.map(([v, d]) => formatNumber(v, d)),"
        " formatMegabytes(629146)]));"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    expected = [t for _, d, t in CASES if d is not None] + ["1.234.567", "0,6 MB"]
    assert json.loads(out.stdout) == expected


def test_no_script_or_template_formats_a_number_by_itself() -> None:
    # The finding: exports showed "9.2 giây, 0.6 MB" (toFixed) and pages "| round(1)".
    scripts = {
        p.name: i + 1
        for p in (WEB / "static" / "js").glob("*.js")
        if p.name != "numbers.js"
        for i, line in enumerate(p.read_text().splitlines())
        if ".toFixed(" in line
    }
    assert not scripts, f"use formatNumber from numbers.js: {scripts}"
    templates = [
        str(p.relative_to(WEB))
        for p in (WEB / "templates").rglob("*.html")
        if re.search(r"\|\s*round\s*\(\s*[1-9]|replace\(\"\.\", \",\"\)", p.read_text())
    ]
    assert not templates, f"use the num filter: {templates}"
