"""Case files and citizens: /cases, /cases/{id}, /citizens.

A denouncer's identity is withheld from accounts not cleared for the case; a cleared view is
audited by `web.api.cases.view_case`, the same path the API takes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sessions import cases, identity
from sessions.access import WITHHELD, Perm
from sessions.db import transaction
from sessions.errors import Conflict, Invalid
from sessions.minutes import store as minutes_store
from sessions.models import CaseKind, CaseStatus
from web.api.cases import view_case
from web.auth import audit_context
from web.bundle import PARTS, bundle_views, read_parts, request_bundle
from web.exports import export_views
from web.http import principal, redirect, requires
from web.keys import DB
from web.pages import lookup
from web.pages.case_sections import case_extras, copy_extras
from web.pages.forms import Form, pager, read_form, render
from web.pages.labels import CASE_KINDS, CASE_STATUSES, MINUTES_STATES
from web.pages.recorded import REPAIRED, endpoint_label
from web.recordings import case_attachment_views
from web.validation import page_request, path_id, query_choice


@requires(Perm.CASES_READ)
async def case_list(request: web.Request) -> web.StreamResponse:
    req = page_request(request)
    kind = query_choice(request, "kind", CaseKind)
    status = query_choice(request, "status", CaseStatus)
    async with request.app[DB]() as db:
        page = await cases.list_cases(db, principal(request), req, kind, status)
        unit_names = await lookup.unit_names(db, (c.handling_unit_id for c in page.items))
    return render(
        "cases/list.html",
        request,
        {
            "items": page.items,
            "pager": pager(request, page),
            "q": req.q,
            "kind": kind,
            "status": status,
            "kinds": CASE_KINDS,
            "statuses": CASE_STATUSES,
            "units": unit_names,
        },
    )


@requires(Perm.CASES_READ)
async def case_detail(request: web.Request) -> web.StreamResponse:
    return await case_page(request, path_id(request), 200)


@requires(Perm.CASES_READ)
async def reveal_identity(request: web.Request) -> web.StreamResponse:
    """ "Xem danh tính": the answer to this post shows the identities once (a reload asks
    again); each reveal is audited with its reason. No redirect: a GET must never show them."""
    form = await read_form(request)
    reason = form.text("reason", required=True, max_len=identity.REASON_MAX) or ""
    case_id = path_id(request)
    if not form.errors:
        try:
            return await case_page(request, case_id, 200, reveal=reason)
        except Invalid as exc:
            form.errors.update(exc.fields)
    return await case_page(request, case_id, 422, reveal_form=form)


async def case_page(
    request: web.Request,
    case_id: int,
    status: int,
    *,
    upload_form: Form | None = None,
    clearance_form: Form | None = None,
    revoke_form: Form | None = None,
    reveal_form: Form | None = None,
    copy_form: Form | None = None,
    bundle_form: Form | None = None,
    reveal: str | None = None,
) -> web.StreamResponse:
    """The case page; a form of it that failed (upload, clearance, reveal) is shown with its
    errors. `reveal`: the reason a cleared account gave to see the protected identities."""
    view = await view_case(request, case_id, reveal)
    async with request.app[DB]() as db:
        unit = await lookup.unit_names(db, [view.case.handling_unit_id])
        recs = await case_attachment_views(db, principal(request), view.case.id, request)
        names = await lookup.endpoint_names(db, (a["recording"]["endpoint_id"] for a in recs))
        titles = await lookup.session_titles(db, (a["session_id"] for a in recs))
        exported = await export_views(db, request, case_id=view.case.id)
        extras = await case_extras(db, request, view.case.id)
    async with transaction(request.app[DB]) as db:  # a shown requester is audited
        extras |= await copy_extras(db, request, view.case.id)
        minutes = await minutes_store.for_case(db, principal(request), view.case.id)
    return render(
        "cases/detail.html",
        request,
        {
            "view": view,
            "c": view.case,
            "unit": unit.get(view.case.handling_unit_id, ""),
            "recordings": recs,
            "recording_endpoints": {
                a["id"]: endpoint_label(names, a["recording"]["endpoint_id"]) for a in recs
            },
            "exports": exported,
            "repaired": REPAIRED,
            "export_sessions": sorted({a["session_id"] for a in recs}),
            "heard_sessions": _heard_sessions(recs, titles),
            "reveal_form": reveal_form or Form(),
            "upload_form": upload_form or Form(),
            "clearance_form": clearance_form or Form(),
            "revoke_form": revoke_form or Form(),
            "copy_form": copy_form or Form(),
            "minutes": minutes,
            "minutes_later": minutes_store.superseded(minutes),
            "minutes_states": MINUTES_STATES,
            "bundle_form": bundle_form or Form(("parts", part) for part in PARTS),
            "bundles": bundle_views(request, view.case.id),
            **extras,
        },
        status,
    )


def _heard_sessions(recs: list[dict[str, Any]], titles: dict[int, str]) -> list[dict[str, Any]]:
    """One row per session that heard the case (its tracks share the heard range)."""
    rows: dict[int, dict[str, Any]] = {}
    for a in recs:
        rows.setdefault(
            a["session_id"],
            {
                "session_id": a["session_id"],
                "title": titles.get(a["session_id"], f"Phiên #{a['session_id']}"),
                "heard_label": a["heard_label"],
                "may_replay": a["may_replay"],
            },
        )
    return sorted(rows.values(), key=lambda r: r["session_id"], reverse=True)


@requires(Perm.CASES_READ)
async def bundle_request(request: web.Request) -> web.StreamResponse:
    """ "Đóng gói hồ sơ": the bundle is made in the background; the page follows it."""
    case_id = path_id(request)
    form = await read_form(request)
    parts = read_parts(form.data.getall("parts", []), form.errors)
    if form.errors:
        form.message = "Chưa chọn phần nào để đóng gói."
        return await case_page(request, case_id, 422, bundle_form=form)
    try:
        job = await request_bundle(request, case_id, parts)
    except Conflict as exc:
        form.fail(exc)
        return await case_page(request, case_id, 422, bundle_form=form)
    return redirect(f"/cases/{case_id}?bundle={job.id}#bundle")


@requires(Perm.CITIZENS_READ)
async def citizen_list(request: web.Request) -> web.StreamResponse:
    req = page_request(request)
    async with transaction(request.app[DB]) as db:
        page = await cases.list_citizens(db, audit_context(request), req)
        unit_names = await lookup.unit_names(db, (v.citizen.unit_id for v in page.items))
    return render(
        "citizens/list.html",
        request,
        {
            "items": page.items,
            "pager": pager(request, page),
            "q": req.q,
            "units": unit_names,
            "withheld_text": WITHHELD,
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/cases", case_list)
    app.router.add_get("/cases/{id:[0-9]+}", case_detail)
    app.router.add_post("/cases/{id:[0-9]+}/reveal", reveal_identity)
    app.router.add_post("/cases/{id:[0-9]+}/bundle", bundle_request)
    app.router.add_get("/citizens", citizen_list)
