"""Every text input of a page form carries a maxlength, and it is the server's own limit:
one character more is refused with "tối đa N ký tự" next to that field, N characters are not."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from tests.web.conftest import Caller, Login

TEXT_TYPES = {"text", "email", "tel", "password", "search", "url"}
PAGES = [
    "/admin/accounts",
    "/admin/accounts/2",
    "/admin/units",
    "/admin/units/2",
    "/admin/endpoints",
    "/admin/endpoints/2",
]


@dataclass
class Form:
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    limits: dict[str, int | None] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None
        self._first: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method") == "post":
            self.forms.append(Form(a.get("action", "")))
        if not self.forms:
            return
        form = self.forms[-1]
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox":
                if "checked" in a:
                    form.fields.append((a["name"], a.get("value", "on")))
                return
            form.fields.append((a["name"], a.get("value", "")))
            if kind in TEXT_TYPES:
                form.limits[a["name"]] = int(a["maxlength"]) if a.get("maxlength") else None
        if tag == "select":
            self._select, self._first = a.get("name"), None
        if tag == "option" and self._select and (self._first is None or "selected" in a):
            self._first = a.get("value", "")
            form.fields = [f for f in form.fields if f[0] != self._select]
            form.fields.append((self._select, self._first))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return [f for f in parser.forms if f.action != "/logout"]


async def _error_of(admin: Caller, form: Form, name: str, value: str) -> str:
    data = [(k, value if k == name else v) for k, v in form.fields]
    reply = await admin.call("POST", form.action, data=data)
    start = reply.text.find(f'id="err-{name}"')
    return reply.text[start : reply.text.find("</span>", start)] if start >= 0 else ""


async def test_login_inputs_carry_the_login_limits(anon: Caller) -> None:
    page = await anon.get("/login")
    assert 'name="username" autocomplete="username" maxlength="64"' in page.text
    assert 'maxlength="1024"' in page.text


async def test_every_form_input_stops_where_the_server_does(as_user: Login) -> None:
    admin = await as_user("admin")
    checked = 0
    for path in PAGES:
        page = await admin.get(path)
        assert page.status == 200, path
        for form in forms_of(page.text):
            for name, limit in form.limits.items():
                assert limit is not None, f"{path}: input {name} has no maxlength"
                if name in ("password", "password_again"):
                    continue  # a too-long password is "không khớp" first; 1024 either way
                over = await _error_of(admin, form, name, "a" * (limit + 1))
                assert f"tối đa {limit} ký tự" in over, (path, name, limit, over)
                exact = await _error_of(admin, form, name, "a" * limit)
                assert "tối đa" not in exact, (path, name, limit, exact)
                checked += 1
    assert checked >= 10
