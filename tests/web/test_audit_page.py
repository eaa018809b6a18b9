"""The audit log in words: every action the code records has a Vietnamese label, details are
lines a person reads (not JSON), and accounts are named (not "Tài khoản #1")."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support import login
from web.pages.labels import AUDIT_ACTIONS, audit_action

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sessions", "scheduling", "recording", "web")
# An action's shape, for the strings a module hands on to its own audit helper.
_ACTION = re.compile(r"^[a-z]+(_[a-z]+)*(\.[a-z_]+)+$")


def _is_record(call: ast.Call) -> bool:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id == "record"
    return isinstance(f, ast.Attribute) and f.attr == "record" and ast.unparse(f.value) == "audit"


def _action_arg(call: ast.Call) -> ast.expr | None:
    if len(call.args) >= 3:
        return call.args[2]
    return next((k.value for k in call.keywords if k.arg == "action"), None)


def _strings(node: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _module_actions(tree: ast.Module) -> set[str]:
    """The actions a module records: the literals in each audit.record call's action, and,
    when the action is a variable (a helper's parameter, a constant), every action-shaped
    string the module passes to a call or assigns, and "X.denied" for f"{action}.denied"."""
    found: set[str] = set()
    dynamic, suffixes = False, set[str]()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_record(n)):
        arg = _action_arg(call)
        if arg is None:
            continue
        found |= {s for s in _strings(arg) if not isinstance(arg, ast.JoinedStr)}
        for node in ast.walk(arg):
            if isinstance(node, ast.Name):
                dynamic = True
            if isinstance(node, ast.JoinedStr):
                found -= _strings(node)
                suffixes |= {
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                }
    if dynamic:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) != "logging.getLogger":
                for a in [*node.args, *(k.value for k in node.keywords)]:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        found |= {a.value} if _ACTION.match(a.value) else set()
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.IfExp):
                found |= {s for s in _strings(node.value) if _ACTION.match(s)}
    return found | {a + s for a in found for s in suffixes}


def recorded_actions() -> dict[str, str]:
    out: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for action in _module_actions(ast.parse(path.read_text(encoding="utf-8"))):
                out.setdefault(action, str(path.relative_to(ROOT)))
    return out


def test_the_collector_finds_the_actions_it_must() -> None:
    actions = recorded_actions()
    # Literal, conditional, a module constant, a helper's argument, an f-string suffix.
    for known in ("login", "export.request.denied", "identity.view", "session.open"):
        assert known in actions, sorted(actions)
    assert "recording.download.denied" in actions and "tiepdan.export" not in actions


def test_every_recorded_action_has_a_vietnamese_label() -> None:
    missing = {a: where for a, where in recorded_actions().items() if audit_action(a) == a}
    assert not missing, f"add these to AUDIT_ACTIONS in web/pages/labels.py: {missing}"
    assert all(label != code for code, label in AUDIT_ACTIONS.items())


async def test_the_audit_page_reads_as_words(client: TestClient[Any, Any]) -> None:
    bad = await client.post("/api/v1/auth/login", json={"username": "chair", "password": "x"})
    assert bad.status == 401
    client.session.cookie_jar.clear()
    await login(client, "chair")
    client.session.cookie_jar.clear()
    await login(client, "auditor")
    resp = await client.get("/audit")
    page = await resp.text()
    assert resp.status == 200, page
    rows = page[page.index("<tbody>") : page.index("</tbody>")]
    assert "Đăng nhập thất bại" in rows and "Lý do: sai tên đăng nhập hoặc mật khẩu" in rows
    assert "bad_credentials" not in rows and "{&#34;" not in rows and '{"' not in rows
    assert "<code" not in rows  # no raw action codes on show
    assert "Tài khoản #" not in rows, rows
    assert re.search(r"<td>[^<(]+ \(chair\)</td>", rows), rows  # the actor by name
