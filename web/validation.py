"""Reading request input: JSON bodies and query strings into typed values, with every
problem collected and named by field."""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from aiohttp import web

from sessions.errors import Invalid
from sessions.paging import MAX_PER_PAGE, PageRequest
from web.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")

# ISO 8601 with an explicit offset (or Z): a time without a zone is ambiguous.
# [0-9], not \d: in Python \d is any Unicode digit ("٣", "３"), and int() takes them.
_ZONED = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})$"
)
# Exactly YYYY-MM-DD and YYYY-MM: date.fromisoformat also takes 2026-W52-5 and 20261201.
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_YEAR = re.compile(r"[0-9]{4}")
_ASCII_INT = re.compile(r"[0-9]{1,18}")
# Years a date or time may name: far years overflow when moved to UTC or when the week or
# month around them is computed (date.max is 9999-12-31), and are typing mistakes anyway.
MIN_YEAR, MAX_YEAR = 1900, 2999
# Control characters, and lone surrogates (JSON may escape them; no database can store them).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


# Longer integers are no id, count or figure of ours; Python's own limit (4,300 digits) is
# a ValueError deep in json, and its conversion is slow well before that.
MAX_INT_DIGITS = 100


class JsonError(ValueError):
    """Why a JSON text was refused, in words for the `body` field."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonError(f"số nguyên quá dài (tối đa {MAX_INT_DIGITS} chữ số)")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"số vượt quá giới hạn: {text[:40]}")
    return value


def _constant(name: str) -> object:
    raise JsonError(f"{name} không phải là số hợp lệ trong JSON")


def decode_json(raw: bytes | str) -> object:
    """JSON text into Python values, or JsonError saying why not: not UTF-8, not JSON, an
    integer too long to be anything of ours, a number that overflows to infinity, the
    NaN/Infinity that Python's json would take, nesting too deep. The one JSON reader:
    HTTP bodies (`read_json`) and WebSocket messages alike."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except UnicodeDecodeError as exc:
        raise JsonError(f"không phải UTF-8 (byte thứ {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise JsonError(f"không phải JSON hợp lệ (dòng {exc.lineno}, cột {exc.colno})") from None
    except RecursionError:
        raise JsonError("lồng nhau quá sâu") from None


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "Dữ liệu phải gửi dạng JSON (Content-Type: application/json).",
            {"Content-Type": f"nhận được {request.content_type!r}"},
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(
            "Dữ liệu gửi lên quá lớn.", {"body": "quá giới hạn cho phép"}
        ) from None
    try:
        body = decode_json(raw)
    except JsonError as exc:
        raise BadRequest("Dữ liệu JSON không đọc được.", {"body": str(exc)}) from None
    if not isinstance(body, dict):
        raise BadRequest("Dữ liệu JSON phải là một đối tượng.", {"body": "cần một đối tượng {...}"})
    return body


class Fields:
    """Typed access to an input object; problems are gathered and raised once by `done()`."""

    def __init__(self, data: dict[str, Any], known: set[str] | None = None) -> None:
        self.data = data
        self.errors: dict[str, str] = {}
        if known is not None:
            for key in data:
                if key not in known:
                    self.errors[key] = "trường không được hỗ trợ"

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.data or self.data[name] is None:
            if required:
                self.errors[name] = "bắt buộc"
            return None
        return self.data[name]

    def text(
        self, name: str, *, required: bool = False, max_len: int = 200, allow_empty: bool = False
    ) -> str | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.errors[name] = "phải là chuỗi ký tự"
            return None
        if _CONTROL.search(value):
            self.errors[name] = "chứa ký tự điều khiển không hợp lệ"
            return None
        if not value.strip() and not allow_empty:
            self.errors[name] = "không được để trống"
            return None
        if len(value) > max_len:
            self.errors[name] = f"tối đa {max_len} ký tự"
            return None
        return value

    def integer(
        self, name: str, *, required: bool = False, lo: int = 1, hi: int = 2**31 - 1
    ) -> int | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors[name] = "phải là số nguyên"
            return None
        if not lo <= value <= hi:
            self.errors[name] = f"phải trong khoảng {lo}–{hi}"
            return None
        return value

    def boolean(self, name: str, *, required: bool = False) -> bool | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.errors[name] = "phải là true hoặc false"
            return None
        return value

    def choice(self, name: str, enum_cls: type[E], *, required: bool = False) -> E | None:
        value = self._get(name, required)
        if value is None:
            return None
        try:
            return enum_cls(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in enum_cls)
            self.errors[name] = f"phải là một trong: {allowed}"
            return None

    def zoned_datetime(self, name: str, *, required: bool = False) -> datetime | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or not _ZONED.match(value.strip()):
            self.errors[name] = "phải theo ISO 8601 kèm múi giờ, ví dụ 2026-12-01T08:00:00+07:00"
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            self.errors[name] = "ngày giờ không tồn tại"
            return None
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            self.errors[name] = f"năm phải trong khoảng {MIN_YEAR}–{MAX_YEAR}"
            return None
        return parsed

    def items(
        self, name: str, parse: Callable[[Fields], T], *, max_items: int = 200
    ) -> tuple[T, ...] | None:
        """A list of objects, each read by `parse` with its own Fields; errors named name[i].x."""
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > max_items:
            self.errors[name] = f"phải là danh sách (tối đa {max_items} mục)"
            return None
        out: list[T] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.errors[f"{name}[{i}]"] = "phải là một đối tượng"
                continue
            sub = Fields(item)
            parsed = parse(sub)
            for k, v in sub.errors.items():
                self.errors[f"{name}[{i}].{k}"] = v
            if not sub.errors:
                out.append(parsed)
        return tuple(out)

    def int_list(self, name: str, *, max_items: int = 500) -> tuple[int, ...] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or len(value) > max_items
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            self.errors[name] = "phải là danh sách số nguyên dương"
            return None
        return tuple(value)

    def done(self) -> None:
        if self.errors:
            raise Invalid("Dữ liệu không hợp lệ.", dict(self.errors))


MAX_ID = 2**31 - 1  # ids are 32-bit integers on both databases


def ascii_int(raw: str, lo: int, hi: int) -> int | None:
    """The number `raw` spells in ASCII digits, when it lies in lo..hi; else None. Not
    str.isdigit() and int(): they take "²", "٣" and "３" too (int() then raises, or reads
    "٣" as 3), and int() of thousands of digits is a ValueError of its own."""
    if _ASCII_INT.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if lo <= value <= hi else None


def page_request(request: web.Request) -> PageRequest:
    errors: dict[str, str] = {}

    def number(name: str, default: int, hi: int) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        value = ascii_int(raw, 1, hi)
        if value is None:
            errors[name] = f"phải là số nguyên từ 1 đến {hi}"
            return default
        return value

    page = number("page", 1, 1_000_000)
    per_page = number("per_page", 50, MAX_PER_PAGE)
    q = request.query.get("q", "")
    if len(q) > 200:
        errors["q"] = "tối đa 200 ký tự"
    elif _CONTROL.search(q):
        errors["q"] = "chứa ký tự điều khiển không hợp lệ"
    if errors:
        raise Invalid("Tham số không hợp lệ.", errors)
    return PageRequest(page=page, per_page=per_page, q=q)


def query_choice(request: web.Request, name: str, enum_cls: type[E]) -> E | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return enum_cls(raw)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise Invalid("Tham số không hợp lệ.", {name: f"phải là một trong: {allowed}"}) from None


def query_id(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    value = ascii_int(raw, 1, MAX_ID)
    if value is None:
        raise Invalid("Tham số không hợp lệ.", {name: "phải là số nguyên dương"})
    return value


def query_text(request: web.Request, name: str, max_len: int = 200) -> str:
    raw = request.query.get(name, "")
    if len(raw) > max_len or _CONTROL.search(raw):
        raise Invalid(
            "Tham số không hợp lệ.", {name: f"tối đa {max_len} ký tự, không có ký tự điều khiển"}
        )
    return raw


def path_id(request: web.Request, name: str = "id") -> int:
    value = ascii_int(request.match_info[name], 1, MAX_ID)
    if value is None:
        raise Invalid("Mã số không hợp lệ.", {name: "phải là số nguyên dương"})
    return value


# Dates in query strings and paths ---------------------------------------------------------


def _year(raw: str, name: str) -> int:
    year = int(raw)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise Invalid(
            "Tham số không hợp lệ.", {name: f"năm phải trong khoảng {MIN_YEAR}–{MAX_YEAR}"}
        )
    return year


def parse_date(raw: str, name: str) -> date:
    """Exactly YYYY-MM-DD, a day that exists, in MIN_YEAR..MAX_YEAR; Invalid naming `name`."""
    match = _DATE.fullmatch(raw)
    if match is None:
        raise Invalid("Ngày không hợp lệ.", {name: "phải theo dạng YYYY-MM-DD"})
    year = _year(match[1], name)
    try:
        return date(year, int(match[2]), int(match[3]))
    except ValueError:
        raise Invalid("Ngày không hợp lệ.", {name: f"ngày {raw} không tồn tại"}) from None


def parse_month(raw: str, name: str) -> date:
    """Exactly YYYY-MM, as the first day of that month."""
    match = _MONTH.fullmatch(raw)
    if match is None:
        raise Invalid("Tháng không hợp lệ.", {name: "phải theo dạng YYYY-MM"})
    year, month = _year(match[1], name), int(match[2])
    if not 1 <= month <= 12:
        raise Invalid("Tháng không hợp lệ.", {name: "tháng phải từ 01 đến 12"})
    return date(year, month, 1)


def parse_year(raw: str, name: str) -> int:
    if _YEAR.fullmatch(raw) is None:
        raise Invalid("Năm không hợp lệ.", {name: "phải là năm bốn chữ số, ví dụ 2026"})
    return _year(raw, name)


def query_date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name, "")
    return parse_date(raw, name) if raw else None


def query_month(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name, "")
    return parse_month(raw, name) if raw else None


def query_year(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    return parse_year(raw, name) if raw else None


def path_date(request: web.Request, name: str = "date") -> date:
    return parse_date(request.match_info[name], name)
