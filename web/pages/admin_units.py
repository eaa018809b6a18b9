"""Administration of units (a tree) and endpoints: /admin/units, /admin/endpoints."""

from __future__ import annotations

from functools import partial

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, units
from sessions.access import Perm
from sessions.paging import MAX_PER_PAGE, PageRequest
from web.auth import audit_context
from web.http import principal, requires
from web.keys import DB
from web.pages import lookup
from web.pages.forms import Form, pager, read_form, render, save
from web.validation import page_request, path_id

# Units -----------------------------------------------------------------------------------


def _unit_input(form: Form, creating: bool) -> units.UnitInput:
    return units.UnitInput(
        name=form.text("name", required=True),
        code=form.text("code", required=True, max_len=32),
        level_code=form.text("level_code", required=True, max_len=32),
        parent_id=form.integer("parent_id", required=True) if creating else None,
        active=None if creating else form.checkbox("active"),
    )


async def _units_page(request: web.Request, form: Form, status: int) -> web.StreamResponse:
    p = principal(request)
    req = page_request(request)
    async with request.app[DB]() as db:
        page = await units.list_units(db, p, PageRequest(req.page, MAX_PER_PAGE, req.q))
        data = {
            "items": page.items,
            "pager": pager(request, page),
            "q": req.q,
            "top": p.unit_path.count("/"),
            "levels": await lookup.level_names(db),
            "parents": await lookup.unit_choices(db, p),
            "form": form,
        }
    return render("admin/units.html", request, data, status)


@requires(Perm.UNITS_WRITE)
async def unit_list(request: web.Request) -> web.StreamResponse:
    return await _units_page(request, Form.of({"parent_id": principal(request).unit_id}), 200)


@requires(Perm.UNITS_WRITE)
async def unit_create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    data = _unit_input(form, True)

    async def work(db: AsyncSession) -> str:
        unit = await units.create_unit(db, principal(request), data)
        await audit.record(db, audit_context(request), "unit.create", "unit", unit.id, unit.id)
        return "/admin/units?saved=1"

    return await save(request, form, work, partial(_units_page, request))


async def _unit_page(
    request: web.Request, unit_id: int, form: Form | None, status: int
) -> web.StreamResponse:
    async with request.app[DB]() as db:
        unit = await units.get_unit(db, principal(request), unit_id)
        levels = await lookup.level_names(db)
    if form is None:
        form = Form.of(
            {
                "name": unit.name,
                "code": unit.code,
                "level_code": unit.level_code,
                "active": unit.active,
            }
        )
    data = {"unit": unit, "levels": levels, "form": form}
    return render("admin/unit_edit.html", request, data, status)


@requires(Perm.UNITS_WRITE)
async def unit_edit(request: web.Request) -> web.StreamResponse:
    return await _unit_page(request, path_id(request), None, 200)


@requires(Perm.UNITS_WRITE)
async def unit_update(request: web.Request) -> web.StreamResponse:
    unit_id, form = path_id(request), await read_form(request)
    data = _unit_input(form, False)

    async def work(db: AsyncSession) -> str:
        unit = await units.update_unit(db, principal(request), unit_id, data)
        await audit.record(db, audit_context(request), "unit.update", "unit", unit.id, unit.id)
        return f"/admin/units/{unit.id}?saved=1"

    return await save(request, form, work, partial(_unit_page, request, unit_id))


# Endpoints -------------------------------------------------------------------------------


def _endpoint_input(form: Form, creating: bool) -> units.EndpointInput:
    return units.EndpointInput(
        name=form.text("name", required=True),
        unit_id=form.integer("unit_id", required=True),
        location=form.text("location", max_len=300),
        contact_phone=form.text("contact_phone", max_len=32),
        is_central=form.checkbox("is_central"),
        active=None if creating else form.checkbox("active"),
    )


async def _endpoints_page(request: web.Request, form: Form, status: int) -> web.StreamResponse:
    p, req = principal(request), page_request(request)
    async with request.app[DB]() as db:
        page = await units.list_endpoints(db, p, req)
        data = {
            "items": page.items,
            "pager": pager(request, page),
            "q": req.q,
            "units": await lookup.unit_names(db, (e.unit_id for e in page.items)),
            "unit_choices": await lookup.unit_choices(db, p),
            "form": form,
        }
    return render("admin/endpoints.html", request, data, status)


@requires(Perm.ENDPOINTS_WRITE)
async def endpoint_list(request: web.Request) -> web.StreamResponse:
    return await _endpoints_page(request, Form(), 200)


@requires(Perm.ENDPOINTS_WRITE)
async def endpoint_create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    data = _endpoint_input(form, True)

    async def work(db: AsyncSession) -> str:
        row = await units.create_endpoint(db, principal(request), data)
        await audit.record(
            db, audit_context(request), "endpoint.create", "endpoint", row.id, row.unit_id
        )
        return "/admin/endpoints?saved=1"

    return await save(request, form, work, partial(_endpoints_page, request))


async def _endpoint_page(
    request: web.Request, endpoint_id: int, form: Form | None, status: int
) -> web.StreamResponse:
    p = principal(request)
    async with request.app[DB]() as db:
        row = await units.get_endpoint(db, p, endpoint_id)
        choices = await lookup.unit_choices(db, p)
    if form is None:
        form = Form.of(
            {
                "name": row.name,
                "unit_id": row.unit_id,
                "location": row.location,
                "contact_phone": row.contact_phone,
                "is_central": row.is_central,
                "active": row.active,
            }
        )
    data = {"endpoint": row, "unit_choices": choices, "form": form}
    return render("admin/endpoint_edit.html", request, data, status)


@requires(Perm.ENDPOINTS_WRITE)
async def endpoint_edit(request: web.Request) -> web.StreamResponse:
    return await _endpoint_page(request, path_id(request), None, 200)


@requires(Perm.ENDPOINTS_WRITE)
async def endpoint_update(request: web.Request) -> web.StreamResponse:
    endpoint_id, form = path_id(request), await read_form(request)
    data = _endpoint_input(form, False)

    async def work(db: AsyncSession) -> str:
        row = await units.update_endpoint(db, principal(request), endpoint_id, data)
        await audit.record(
            db, audit_context(request), "endpoint.update", "endpoint", row.id, row.unit_id
        )
        return f"/admin/endpoints/{row.id}?saved=1"

    return await save(request, form, work, partial(_endpoint_page, request, endpoint_id))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/units", unit_list)
    r.add_post("/admin/units", unit_create)
    r.add_get("/admin/units/{id:[0-9]+}", unit_edit)
    r.add_post("/admin/units/{id:[0-9]+}", unit_update)
    r.add_get("/admin/endpoints", endpoint_list)
    r.add_post("/admin/endpoints", endpoint_create)
    r.add_get("/admin/endpoints/{id:[0-9]+}", endpoint_edit)
    r.add_post("/admin/endpoints/{id:[0-9]+}", endpoint_update)
