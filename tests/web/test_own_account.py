"""An administrator cannot change their own reach (roles, unit, endpoint): another admin must.
The same check answers the API and the admin page."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sessions.models import Account, Endpoint
from tests.support import login
from tests.web.conftest import Caller, Login, audit_actions, last_audit_id
from web.keys import DB

Client = TestClient[Any, Any]
PASSWORD = "mat-khau-quan-tri-2"


async def _state(client: Client, account_id: int) -> tuple[list[str], int, int | None]:
    async with client.app[DB]() as db:
        row = await db.scalar(
            select(Account).where(Account.id == account_id).options(selectinload(Account.roles))
        )
        assert row is not None
        return sorted(r.value for r in row.role_set), row.unit_id, row.endpoint_id


async def _central_endpoint(client: Client) -> int:
    async with client.app[DB]() as db:
        ep = await db.scalar(select(Endpoint.id).where(Endpoint.is_central.is_(True)))
        assert ep is not None
        return int(ep)


async def _second_admin(admin: Caller, as_user: Login, unit_id: int) -> Caller:
    reply = await admin.post(
        "/api/v1/accounts",
        {
            "username": "quantri2",
            "full_name": "Quản trị viên thứ hai",
            "unit_id": unit_id,
            "roles": ["admin"],
            "password": PASSWORD,
        },
    )
    assert reply.status == 201, reply.body
    return await as_user("quantri2", PASSWORD)


async def test_an_admin_cannot_change_their_own_reach_through_the_api(
    client: Client, as_user: Login
) -> None:
    admin = await as_user("admin")
    me = (await admin.get(f"/api/v1/accounts/{admin.account_id}")).body
    before = await _state(client, admin.account_id)
    audit_from = await last_audit_id(client)
    commune = (await admin.get("/api/v1/units?q=X-TP")).body["items"][0]["id"]
    central = await _central_endpoint(client)
    for change, field in (
        ({"roles": ["admin", "leader"]}, "roles"),  # the finding: then cases and identities
        ({"roles": ["admin", "reception_officer", "leader"]}, "roles"),
        ({"roles": ["leader"]}, "roles"),
        ({"unit_id": commune}, "unit_id"),
        ({"endpoint_id": central}, "endpoint_id"),
    ):
        reply = await admin.patch(f"/api/v1/accounts/{admin.account_id}", change)
        assert reply.status == 403, (change, reply.body)
        assert field in reply.error_fields, (change, reply.body)
        assert reply.body["error"]["code"] == "forbidden"
    assert await _state(client, admin.account_id) == before
    assert "account.roles" not in await audit_actions(client, audit_from)
    assert (await admin.get("/api/v1/cases")).status == 403  # still no case permission

    # Their own name, phone, title: theirs to keep up to date; the same roles again too.
    reply = await admin.patch(
        f"/api/v1/accounts/{admin.account_id}",
        {"full_name": "Quản trị hệ thống tỉnh", "roles": ["admin"], "unit_id": me["unit_id"]},
    )
    assert reply.status == 200, reply.body

    # Another administrator may make the change, and it is audited as a role change.
    other = await _second_admin(admin, as_user, me["unit_id"])
    reply = await other.patch(
        f"/api/v1/accounts/{admin.account_id}", {"roles": ["admin", "leader"]}
    )
    assert reply.status == 200, reply.body
    assert reply.body["roles"] == ["admin", "leader"]
    assert "account.roles" in await audit_actions(client, audit_from)
    # The second admin is bound by the same rule for their own account.
    reply = await other.patch(f"/api/v1/accounts/{other.account_id}", {"roles": ["auditor"]})
    assert reply.status == 403 and "roles" in reply.error_fields


def _edit_form(body: str) -> list[tuple[str, str]]:
    """The values the admin page's edit form would send back unchanged."""
    fields = [
        (name, value)
        for name, value in re.findall(r'<input name="(\w+)" type="[a-z]+" value="([^"]*)"', body)
    ]
    for name, value in re.findall(r'name="(roles|active)" value="([^"]*)" checked', body):
        fields.append((name, value))
    for name in ("unit_id", "endpoint_id"):
        select_html = re.search(rf'<select name="{name}".*?</select>', body, re.S)
        assert select_html is not None, name
        chosen = re.search(r'<option value="([^"]*)" selected', select_html.group(0))
        fields.append((name, chosen.group(1) if chosen else ""))
    return fields


async def test_an_admin_cannot_change_their_own_roles_on_the_admin_page(
    client: Client, as_user: Login
) -> None:
    admin = await as_user("admin")
    before = await _state(client, admin.account_id)
    csrf = await login(client, "admin")
    path = f"/admin/accounts/{admin.account_id}"
    resp = await client.get(path)
    page = await resp.text()
    assert resp.status == 200, page
    form = _edit_form(page)
    assert ("roles", "admin") in form, form

    audit_from = await last_audit_id(client)
    more = [*form, ("roles", "leader"), ("csrf_token", csrf)]
    resp = await client.post(path, data=more, allow_redirects=False)
    body = await resp.text()
    assert resp.status == 403, body[:2000]
    assert 'id="err-roles"' in body, body[:2000]
    assert "quản trị viên khác" in body
    assert await _state(client, admin.account_id) == before
    assert "account.roles" not in await audit_actions(client, audit_from)

    # The unchanged form saves (the page always sends every field).
    resp = await client.post(path, data=[*form, ("csrf_token", csrf)], allow_redirects=False)
    assert resp.status == 303, (await resp.text())[:2000]
