"""Numbers as Vietnamese writes them: "9,2 giây", "1.048.576 byte" (decimal comma, dots
between thousands). The one formatter of pages (the `num` filter); web/static/js/numbers.js is
its twin for scripts."""

from __future__ import annotations


def number(value: float | int | None, digits: int | None = None) -> str:
    """`value` with `digits` decimals (as many as it has, up to 3, when None)."""
    if value is None:
        return "–"
    if digits is None:
        digits = 0 if isinstance(value, int) or float(value).is_integer() else 3
        text = f"{value:,.{digits}f}".rstrip("0") if digits else f"{value:,.0f}"
        text = text.rstrip(".")
    else:
        text = f"{value:,.{digits}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def megabytes(size: int | None) -> str:
    return number((size or 0) / 1048576, 1) + " MB"
