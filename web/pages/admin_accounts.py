"""Administration of accounts: /admin/accounts (list, create), /admin/accounts/{id} (roles,
unit, endpoint, active) and /admin/accounts/{id}/password (reset). Audited as the API does."""

from __future__ import annotations

from functools import partial

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import accounts
from sessions.access import Perm
from sessions.models import Account, Role
from web.api.directory import (
    record_account_created,
    record_account_updated,
    record_password_set,
)
from web.auth import audit_context
from web.http import principal, requires
from web.keys import DB
from web.pages import lookup
from web.pages.forms import Form, pager, read_form, render, save
from web.pages.labels import ROLE_NAMES
from web.validation import page_request, path_id, query_choice


def _account_input(form: Form, creating: bool) -> accounts.AccountInput:
    endpoint_id = form.integer("endpoint_id")
    return accounts.AccountInput(
        username=form.text("username", required=True, max_len=64) if creating else None,
        full_name=form.text("full_name", required=True),
        unit_id=form.integer("unit_id", required=True),
        endpoint_id=endpoint_id,
        roles=form.choices("roles", Role),
        password=form.text("password", required=True, max_len=1024) if creating else None,
        email=form.text("email"),
        phone=form.text("phone", max_len=32),
        title=form.text("title"),
        active=None if creating else form.checkbox("active"),
        clear_endpoint=not creating and endpoint_id is None,
    )


def _roles(row: Account) -> list[str]:
    return sorted(r.value for r in row.role_set)


async def _choices(db: AsyncSession, request: web.Request) -> dict[str, object]:
    p = principal(request)
    return {
        "unit_choices": await lookup.unit_choices(db, p),
        "endpoint_choices": await lookup.endpoint_choices(db, p),
        "role_choices": {r.value: ROLE_NAMES[r] for r in Role},
    }


async def _accounts_page(request: web.Request, form: Form, status: int) -> web.StreamResponse:
    p, req = principal(request), page_request(request)
    role = query_choice(request, "role", Role)
    async with request.app[DB]() as db:
        page = await accounts.list_accounts(db, p, req, role)
        data = {
            "items": page.items,
            "pager": pager(request, page),
            "q": req.q,
            "role": role,
            "roles": ROLE_NAMES,
            "units": await lookup.unit_names(db, (a.unit_id for a in page.items)),
            "endpoints": await lookup.endpoint_names(db, (a.endpoint_id for a in page.items)),
            "form": form,
            **await _choices(db, request),
        }
    return render("admin/accounts.html", request, data, status)


@requires(Perm.ACCOUNTS_WRITE)
async def account_list(request: web.Request) -> web.StreamResponse:
    return await _accounts_page(request, Form.of({"unit_id": principal(request).unit_id}), 200)


@requires(Perm.ACCOUNTS_WRITE)
async def account_create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    data = _account_input(form, True)

    async def work(db: AsyncSession) -> str:
        row = await accounts.create_account(db, principal(request), data)
        await record_account_created(db, audit_context(request), row)
        return f"/admin/accounts/{row.id}?saved=1"

    return await save(request, form, work, partial(_accounts_page, request))


async def _account_page(
    request: web.Request,
    account_id: int,
    form: Form | None,
    status: int,
    password_form: Form | None = None,
) -> web.StreamResponse:
    async with request.app[DB]() as db:
        row = await accounts.get_account(db, principal(request), account_id)
        choices = await _choices(db, request)
    form = form or Form.of(
        {
            "full_name": row.full_name,
            "title": row.title,
            "email": row.email,
            "phone": row.phone,
            "unit_id": row.unit_id,
            "endpoint_id": row.endpoint_id,
            "roles": _roles(row),
            "active": row.active,
        }
    )
    data = {"account": row, "form": form, "password_form": password_form or Form(), **choices}
    return render("admin/account_edit.html", request, data, status)


@requires(Perm.ACCOUNTS_WRITE)
async def account_edit(request: web.Request) -> web.StreamResponse:
    return await _account_page(request, path_id(request), None, 200)


# The edit form always sends every field it has.
FORM_FIELDS = ["active", "email", "endpoint_id", "full_name", "phone", "roles", "title", "unit_id"]


@requires(Perm.ACCOUNTS_WRITE)
async def account_update(request: web.Request) -> web.StreamResponse:
    account_id, form = path_id(request), await read_form(request)
    data = _account_input(form, False)

    async def work(db: AsyncSession) -> str:
        row, before = await accounts.update_account(db, principal(request), account_id, data)
        await record_account_updated(db, audit_context(request), row, before, FORM_FIELDS, False)
        return f"/admin/accounts/{row.id}?saved=1"

    return await save(request, form, work, partial(_account_page, request, account_id))


@requires(Perm.ACCOUNTS_WRITE)
async def account_password(request: web.Request) -> web.StreamResponse:
    account_id, form = path_id(request), await read_form(request)
    password = form.text("password", required=True, max_len=1024)
    if password is not None and password != form.data.get("password_again", ""):
        form.errors["password_again"] = "không khớp với mật khẩu mới"

    async def work(db: AsyncSession) -> str:
        row = await accounts.get_account(db, principal(request), account_id)
        accounts.set_password(row, password or "")
        await record_password_set(db, audit_context(request), row)
        return f"/admin/accounts/{row.id}?password=1"

    async def rerender(pw_form: Form, status: int) -> web.StreamResponse:
        return await _account_page(request, account_id, None, status, pw_form)

    return await save(request, form, work, rerender)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/accounts", account_list)
    r.add_post("/admin/accounts", account_create)
    r.add_get("/admin/accounts/{id:[0-9]+}", account_edit)
    r.add_post("/admin/accounts/{id:[0-9]+}", account_update)
    r.add_post("/admin/accounts/{id:[0-9]+}/password", account_password)
