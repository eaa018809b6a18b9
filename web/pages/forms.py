"""HTML forms and lists: reading a posted form into typed values with Vietnamese errors per
field, saving in one transaction (or re-rendering with 422), and paging links."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db import transaction
from sessions.errors import Conflict, DomainError, Forbidden, Invalid
from sessions.paging import Page
from web import inbound
from web.http import redirect
from web.keys import DB
from web.validation import MAX_ID, ascii_int

E = TypeVar("E", bound=enum.Enum)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Form fields that never go back into a re-rendered page.
_SECRET = frozenset({"password", "password_again", "csrf_token"})


DEFAULT_MAX_LEN = 200
# The longest text a page form's field takes when its handler names no other limit. The
# handlers (Form.text) and the templates (ui.field's maxlength) both read it, so a browser
# stops typing where the server would refuse; tests/web/test_maxlength.py posts one more.
MAX_LEN = {
    "username": 64,
    "password": 1024,
    "password_again": 1024,
    "phone": 32,
    "contact_phone": 32,
    "code": 32,
    "level_code": 32,
    "location": 300,
}


def max_len_of(name: str) -> int:
    return MAX_LEN.get(name, DEFAULT_MAX_LEN)


class Form:
    """A form's values (to show again) and its errors by field (to show next to each field)."""

    def __init__(self, data: Iterable[tuple[str, str]] = ()) -> None:
        self.data: MultiDict[str] = MultiDict(data)
        self.errors: dict[str, str] = {}
        self.message = ""
        self.target = ""  # which of a page's several forms this is, when it matters

    @classmethod
    def of(cls, values: Mapping[str, object]) -> Form:
        """A form filled from an object being edited; lists become repeated fields."""
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            items = value if isinstance(value, list | tuple | set | frozenset) else [value]
            pairs += [(key, _as_text(v)) for v in items if v is not None and v is not False]
        return cls(pairs)

    def value(self, name: str) -> str:
        return "" if name in _SECRET else self.data.get(name, "")

    def has(self, name: str, value: str = "on") -> bool:
        return value in self.data.getall(name, [])

    def text(self, name: str, *, required: bool = False, max_len: int | None = None) -> str | None:
        max_len = max_len_of(name) if max_len is None else max_len
        value = self.data.get(name, "")
        if _CONTROL.search(value):
            self.errors[name] = "chứa ký tự điều khiển không hợp lệ"
        elif len(value) > max_len:
            self.errors[name] = f"tối đa {max_len} ký tự"
        elif not value.strip():
            if required:
                self.errors[name] = "bắt buộc"
            return None if required else ""
        else:
            return value
        return None

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.data.get(name, "").strip()
        if not value:
            if required:
                self.errors[name] = "bắt buộc"
            return None
        number = ascii_int(value, 1, MAX_ID)
        if number is None:
            self.errors[name] = "phải là số nguyên dương"
        return number

    def checkbox(self, name: str) -> bool:
        return bool(self.data.get(name))

    def choices(self, name: str, enum_cls: type[E]) -> frozenset[E]:
        out: set[E] = set()
        for raw in self.data.getall(name, []):
            try:
                out.add(enum_cls(raw))
            except ValueError:
                self.errors[name] = f"giá trị không hợp lệ: {raw[:40]}"
        return frozenset(out)

    def fail(self, exc: DomainError) -> None:
        self.message = exc.message
        self.errors.update(exc.fields)
        if not exc.fields:
            self.errors["_form"] = exc.message


def _as_text(value: object) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    return "on" if value is True else str(value)


async def read_form(request: web.Request) -> Form:
    posted = await inbound.form(request)
    return Form((k, v) for k, v in posted.items() if isinstance(v, str))


Rerender = Callable[[Form, int], Awaitable[web.StreamResponse]]


async def save(
    request: web.Request,
    form: Form,
    work: Callable[[AsyncSession], Awaitable[str]],
    rerender: Rerender,
) -> web.StreamResponse:
    """Run `work` in one transaction and redirect where it says; bad input (found by the form
    or by the store) rolls everything back and shows the form again with status 422, and so
    does a refusal that names a field (403: a unit out of reach, an admin's own roles)."""
    if form.errors:
        form.message = form.message or "Dữ liệu chưa hợp lệ, vui lòng kiểm tra các trường đánh dấu."
        return await rerender(form, 422)
    try:
        async with transaction(request.app[DB]) as db:
            location = await work(db)
    except (Invalid, Conflict) as exc:
        form.fail(exc)
        return await rerender(form, 422)
    except Forbidden as exc:
        if not exc.fields:
            raise  # not about this form's input: the error page
        form.fail(exc)
        return await rerender(form, 403)
    return redirect(location)


def render(
    template: str, request: web.Request, data: dict[str, Any], status: int = 200
) -> web.StreamResponse:
    return aiohttp_jinja2.render_template(template, request, data, status=status)


@dataclass(frozen=True, slots=True)
class Pager:
    """Where a list is in its pages, with links that keep the list's other query parameters."""

    total: int
    page: int
    pages: int
    prev_url: str | None
    next_url: str | None


def pager(request: web.Request, page: Page[Any]) -> Pager:
    pages = max(1, -(-page.total // page.per_page))

    def url(n: int) -> str:
        query = {k: v for k, v in request.query.items() if k != "page" and v}
        return request.path + "?" + urlencode({**query, "page": str(n)})

    return Pager(
        total=page.total,
        page=page.page,
        pages=pages,
        prev_url=url(page.page - 1) if page.page > 1 else None,
        next_url=url(page.page + 1) if page.page < pages else None,
    )
