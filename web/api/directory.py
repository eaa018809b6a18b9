"""Units, endpoints, accounts and the audit log."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import accounts, audit, units
from sessions.access import Perm
from sessions.audit import AuditContext
from sessions.db import transaction
from sessions.models import Account, Role
from web import serialize
from web.auth import audit_context, end_sessions
from web.http import ok, principal, requires
from web.keys import CONFIG, DB
from web.validation import (
    Fields,
    page_request,
    path_id,
    query_choice,
    query_id,
    query_text,
    read_json,
)

UNIT_FIELDS = {"name", "code", "level_code", "parent_id", "active"}
ENDPOINT_FIELDS = {"name", "unit_id", "location", "contact_phone", "is_central", "active"}
ACCOUNT_FIELDS = {
    "username",
    "full_name",
    "unit_id",
    "endpoint_id",
    "roles",
    "password",
    "email",
    "phone",
    "title",
    "active",
}


# Units -----------------------------------------------------------------------------------


@requires(Perm.UNITS_READ)
async def list_units(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    async with request.app[DB]() as db:
        result = await units.list_units(db, principal(request), page_request(request))
    return ok(serialize.page(result, [serialize.unit(u, tz) for u in result.items]))


@requires(Perm.UNITS_READ)
async def get_unit(request: web.Request) -> web.StreamResponse:
    async with request.app[DB]() as db:
        unit = await units.get_unit(db, principal(request), path_id(request))
    return ok(serialize.unit(unit, request.app[CONFIG].tz))


def _unit_input(f: Fields, creating: bool) -> units.UnitInput:
    data = units.UnitInput(
        name=f.text("name", required=creating),
        code=f.text("code", required=creating, max_len=32),
        level_code=f.text("level_code", required=creating, max_len=32),
        parent_id=f.integer("parent_id", required=creating),
        active=f.boolean("active"),
    )
    f.done()
    return data


@requires(Perm.UNITS_WRITE)
async def create_unit(request: web.Request) -> web.StreamResponse:
    data = _unit_input(Fields(await read_json(request), UNIT_FIELDS), True)
    async with transaction(request.app[DB]) as db:
        unit = await units.create_unit(db, principal(request), data)
        await audit.record(db, audit_context(request), "unit.create", "unit", unit.id, unit.id)
    return ok(serialize.unit(unit, request.app[CONFIG].tz), 201)


@requires(Perm.UNITS_WRITE)
async def update_unit(request: web.Request) -> web.StreamResponse:
    data = _unit_input(Fields(await read_json(request), UNIT_FIELDS), False)
    async with transaction(request.app[DB]) as db:
        unit = await units.update_unit(db, principal(request), path_id(request), data)
        await audit.record(db, audit_context(request), "unit.update", "unit", unit.id, unit.id)
    return ok(serialize.unit(unit, request.app[CONFIG].tz))


# Endpoints -------------------------------------------------------------------------------


@requires(Perm.ENDPOINTS_READ)
async def list_endpoints(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    unit_id = query_id(request, "unit_id")
    async with request.app[DB]() as db:
        result = await units.list_endpoints(db, principal(request), page_request(request), unit_id)
    return ok(serialize.page(result, [serialize.endpoint(e, tz) for e in result.items]))


@requires(Perm.ENDPOINTS_READ)
async def get_endpoint(request: web.Request) -> web.StreamResponse:
    async with request.app[DB]() as db:
        row = await units.get_endpoint(db, principal(request), path_id(request))
    return ok(serialize.endpoint(row, request.app[CONFIG].tz))


def _endpoint_input(f: Fields, creating: bool) -> units.EndpointInput:
    data = units.EndpointInput(
        name=f.text("name", required=creating),
        unit_id=f.integer("unit_id", required=creating),
        location=f.text("location", max_len=300, allow_empty=True),
        contact_phone=f.text("contact_phone", max_len=32, allow_empty=True),
        is_central=f.boolean("is_central"),
        active=f.boolean("active"),
    )
    f.done()
    return data


@requires(Perm.ENDPOINTS_WRITE)
async def create_endpoint(request: web.Request) -> web.StreamResponse:
    data = _endpoint_input(Fields(await read_json(request), ENDPOINT_FIELDS), True)
    async with transaction(request.app[DB]) as db:
        row = await units.create_endpoint(db, principal(request), data)
        await audit.record(
            db, audit_context(request), "endpoint.create", "endpoint", row.id, row.unit_id
        )
    return ok(serialize.endpoint(row, request.app[CONFIG].tz), 201)


@requires(Perm.ENDPOINTS_WRITE)
async def update_endpoint(request: web.Request) -> web.StreamResponse:
    data = _endpoint_input(Fields(await read_json(request), ENDPOINT_FIELDS), False)
    async with transaction(request.app[DB]) as db:
        row = await units.update_endpoint(db, principal(request), path_id(request), data)
        await audit.record(
            db, audit_context(request), "endpoint.update", "endpoint", row.id, row.unit_id
        )
    return ok(serialize.endpoint(row, request.app[CONFIG].tz))


# Accounts --------------------------------------------------------------------------------


@requires(Perm.ACCOUNTS_READ)
async def list_accounts(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    role = query_choice(request, "role", Role)
    async with request.app[DB]() as db:
        result = await accounts.list_accounts(db, principal(request), page_request(request), role)
    return ok(serialize.page(result, [serialize.account(a, tz) for a in result.items]))


@requires(Perm.ACCOUNTS_READ)
async def get_account(request: web.Request) -> web.StreamResponse:
    async with request.app[DB]() as db:
        row = await accounts.get_account(db, principal(request), path_id(request))
    return ok(serialize.account(row, request.app[CONFIG].tz))


def _roles(f: Fields) -> frozenset[Role] | None:
    raw = f.data.get("roles")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        f.errors["roles"] = "phải là danh sách vai trò"
        return None
    try:
        return frozenset(Role(r) for r in raw)
    except ValueError:
        f.errors["roles"] = "vai trò hợp lệ: " + ", ".join(r.value for r in Role)
        return None


def _account_input(f: Fields, creating: bool) -> accounts.AccountInput:
    endpoint_given = "endpoint_id" in f.data
    data = accounts.AccountInput(
        username=f.text("username", required=creating, max_len=64),
        full_name=f.text("full_name", required=creating),
        unit_id=f.integer("unit_id", required=creating),
        endpoint_id=f.integer("endpoint_id"),
        roles=_roles(f),
        password=f.text("password", required=creating, max_len=1024),
        email=f.text("email", allow_empty=True),
        phone=f.text("phone", max_len=32, allow_empty=True),
        title=f.text("title", allow_empty=True),
        active=f.boolean("active"),
        clear_endpoint=endpoint_given and f.data.get("endpoint_id") is None,
    )
    if creating and data.roles is None and "roles" not in f.errors:
        f.errors["roles"] = "bắt buộc"
    f.done()
    return data


async def record_account_created(db: AsyncSession, ctx: AuditContext, row: Account) -> None:
    roles = {"roles": sorted(r.value for r in row.role_set)}
    await audit.record(db, ctx, "account.create", "account", row.id, row.unit_id, roles)


async def record_password_set(db: AsyncSession, ctx: AuditContext, row: Account) -> None:
    """A new password is audited and ends every session the account had."""
    await audit.record(db, ctx, "account.password", "account", row.id, row.unit_id)
    await end_sessions(db, row.id)


async def record_account_updated(
    db: AsyncSession,
    ctx: AuditContext,
    row: Account,
    roles_before: frozenset[Role],
    fields: list[str],
    password_set: bool,
) -> None:
    """The audit trail of an account change (API and admin pages alike): the change, a role
    change on its own record, a new password; a locked account loses its sessions."""
    await audit.record(
        db, ctx, "account.update", "account", row.id, row.unit_id, {"fields": fields}
    )
    if row.role_set != roles_before:
        change = {
            "before": sorted(r.value for r in roles_before),
            "after": sorted(r.value for r in row.role_set),
        }
        await audit.record(db, ctx, "account.roles", "account", row.id, row.unit_id, change)
    if password_set:
        await record_password_set(db, ctx, row)
    elif not row.active:
        await end_sessions(db, row.id)


@requires(Perm.ACCOUNTS_WRITE)
async def create_account(request: web.Request) -> web.StreamResponse:
    data = _account_input(Fields(await read_json(request), ACCOUNT_FIELDS), True)
    async with transaction(request.app[DB]) as db:
        row = await accounts.create_account(db, principal(request), data)
        await record_account_created(db, audit_context(request), row)
    return ok(serialize.account(row, request.app[CONFIG].tz), 201)


@requires(Perm.ACCOUNTS_WRITE)
async def update_account(request: web.Request) -> web.StreamResponse:
    data = _account_input(Fields(await read_json(request), ACCOUNT_FIELDS), False)
    async with transaction(request.app[DB]) as db:
        row, before = await accounts.update_account(db, principal(request), path_id(request), data)
        fields = sorted(
            k for k in ACCOUNT_FIELDS if getattr(data, k, None) is not None and k != "password"
        )
        await record_account_updated(
            db, audit_context(request), row, before, fields, data.password is not None
        )
    return ok(serialize.account(row, request.app[CONFIG].tz))


# Audit log -------------------------------------------------------------------------------


@requires(Perm.AUDIT_READ)
async def list_audit(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    async with request.app[DB]() as db:
        result = await audit.list_records(
            db, principal(request), page_request(request), query_text(request, "action", 64)
        )
    return ok(serialize.page(result, [serialize.audit(r, tz) for r in result.items]))


def setup(app: web.Application) -> None:
    r = app.router
    for name, lst, get, create, update in (
        ("units", list_units, get_unit, create_unit, update_unit),
        ("endpoints", list_endpoints, get_endpoint, create_endpoint, update_endpoint),
        ("accounts", list_accounts, get_account, create_account, update_account),
    ):
        r.add_get(f"/api/v1/{name}", lst)
        r.add_post(f"/api/v1/{name}", create)
        r.add_get(f"/api/v1/{name}/{{id:[0-9]+}}", get)
        r.add_patch(f"/api/v1/{name}/{{id:[0-9]+}}", update)
    r.add_get("/api/v1/audit", list_audit)
