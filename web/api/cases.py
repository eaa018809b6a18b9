"""Citizens and case files. Viewing a protected identity leaves an audit record."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, cases, identity
from sessions.access import Perm
from sessions.db import transaction
from sessions.groups import MAX_GROUP_SIZE
from sessions.models import CaseKind, CaseStatus, CitizenRole, SubjectArea
from web import serialize
from web.auth import audit_context
from web.http import ok, principal, requires
from web.keys import CONFIG, DB
from web.validation import Fields, page_request, path_id, query_choice, read_json

CITIZEN_FIELDS = {"full_name", "id_number", "address", "phone", "unit_id"}
CASE_FIELDS = {
    "code",
    "kind",
    "subject_area",
    "title",
    "summary",
    "status",
    "handling_unit_id",
    "national_code",
    "group_size",
    "parties",
}


@requires(Perm.CITIZENS_READ)
async def list_citizens(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    async with transaction(request.app[DB]) as db:  # a shown identity is audited
        result = await cases.list_citizens(db, audit_context(request), page_request(request))
    return ok(serialize.page(result, [serialize.citizen(c, tz) for c in result.items]))


@requires(Perm.CITIZENS_READ)
async def get_citizen(request: web.Request) -> web.StreamResponse:
    async with transaction(request.app[DB]) as db:
        view = await cases.get_citizen(db, audit_context(request), path_id(request))
    return ok(serialize.citizen(view, request.app[CONFIG].tz))


# The server's limits, which the page forms' `maxlength` repeat.
CITIZEN_LIMITS = {"full_name": 200, "id_number": 32, "address": 400, "phone": 32}
CASE_LIMITS = {"code": 40, "title": 300, "summary": 20000, "national_code": 64}


def _citizen_input(f: Fields, creating: bool) -> cases.CitizenInput:
    data = cases.CitizenInput(
        full_name=f.text("full_name", required=creating, max_len=CITIZEN_LIMITS["full_name"]),
        id_number=f.text("id_number", max_len=CITIZEN_LIMITS["id_number"], allow_empty=True),
        address=f.text("address", max_len=CITIZEN_LIMITS["address"], allow_empty=True),
        phone=f.text("phone", max_len=CITIZEN_LIMITS["phone"], allow_empty=True),
        unit_id=f.integer("unit_id", required=creating),
    )
    f.done()
    return data


@requires(Perm.CITIZENS_WRITE)
async def create_citizen(request: web.Request) -> web.StreamResponse:
    data = _citizen_input(Fields(await read_json(request), CITIZEN_FIELDS), True)
    async with transaction(request.app[DB]) as db:
        row = await cases.create_citizen(db, principal(request), data)
        await audit.record(
            db, audit_context(request), "citizen.create", "citizen", row.id, row.unit_id
        )
    return ok(serialize.citizen(cases.CitizenView(row, False), request.app[CONFIG].tz), 201)


@requires(Perm.CITIZENS_WRITE)
async def citizen_duplicates(request: web.Request) -> web.StreamResponse:
    """The citizens a new record (or an edited one, `exclude_id`) may duplicate: same ID
    number, or same name and address (diacritics and case ignored); only those the caller
    may see, and each protected one shown is audited."""
    f = Fields(await read_json(request), CITIZEN_FIELDS | {"exclude_id"})
    data = _citizen_input(f, False)
    exclude = Fields(f.data).integer("exclude_id")
    async with transaction(request.app[DB]) as db:
        views = await duplicate_views(db, request, data, exclude)
    tz = request.app[CONFIG].tz
    return ok({"items": [serialize.citizen(v, tz) for v in views]})


async def duplicate_views(
    db: AsyncSession, request: web.Request, data: cases.CitizenInput, exclude: int | None
) -> list[cases.CitizenView]:
    rows = await cases.possible_duplicates(db, principal(request), data, exclude)
    decision = await identity.disclose(
        db, audit_context(request), [r.id for r in rows], surface="citizen-duplicates"
    )
    return [cases.CitizenView(r, False, r.id in decision.protected) for r in rows]


@requires(Perm.CITIZENS_WRITE)
async def update_citizen(request: web.Request) -> web.StreamResponse:
    data = _citizen_input(Fields(await read_json(request), CITIZEN_FIELDS), False)
    async with transaction(request.app[DB]) as db:
        row = await cases.update_citizen(db, principal(request), path_id(request), data)
        await audit.record(
            db, audit_context(request), "citizen.update", "citizen", row.id, row.unit_id
        )
        view = await cases.get_citizen(db, audit_context(request), row.id)
    return ok(serialize.citizen(view, request.app[CONFIG].tz))


@requires(Perm.CASES_READ)
async def list_cases(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    kind = query_choice(request, "kind", CaseKind)
    status = query_choice(request, "status", CaseStatus)
    async with request.app[DB]() as db:
        result = await cases.list_cases(db, principal(request), page_request(request), kind, status)
    return ok(serialize.page(result, [serialize.case_summary(c, tz) for c in result.items]))


async def view_case(
    request: web.Request, case_id: int, reveal: str | None = None
) -> cases.CaseView:
    """The case as the caller may see it; a protected identity is shown only when revealed
    (`reveal`: the reason), and then audited."""
    async with transaction(request.app[DB]) as db:
        return await cases.get_case(db, audit_context(request), case_id, reveal)


async def _reason(request: web.Request) -> str:
    f = Fields(await read_json(request), {"reason"})
    reason = f.text("reason", required=True, max_len=identity.REASON_MAX)
    f.done()
    assert reason is not None
    return identity.check_reason(reason)


@requires(Perm.CASES_READ)
async def reveal_case(request: web.Request) -> web.StreamResponse:
    """A cleared account asks to see the protected identities of a case, saying why: one
    identity.view record per citizen, with the reason."""
    view = await view_case(request, path_id(request), await _reason(request))
    return ok(serialize.case(view, request.app[CONFIG].tz))


@requires(Perm.CITIZENS_READ)
async def reveal_citizen(request: web.Request) -> web.StreamResponse:
    reason = await _reason(request)
    async with transaction(request.app[DB]) as db:
        view = await cases.get_citizen(db, audit_context(request), path_id(request), reason)
    return ok(serialize.citizen(view, request.app[CONFIG].tz))


@requires(Perm.CASES_READ)
async def get_case(request: web.Request) -> web.StreamResponse:
    view = await view_case(request, path_id(request))
    return ok(serialize.case(view, request.app[CONFIG].tz))


def _party(f: Fields) -> cases.PartyInput:
    cid = f.integer("citizen_id", required=True)
    role = f.choice("role", CitizenRole) or CitizenRole.PETITIONER
    return cases.PartyInput(cid or 0, role)


def _case_input(f: Fields, creating: bool) -> cases.CaseInput:
    data = cases.CaseInput(
        code=f.text("code", max_len=40),
        kind=f.choice("kind", CaseKind, required=creating),
        subject_area=f.choice("subject_area", SubjectArea, required=creating),
        title=f.text("title", required=creating, max_len=300),
        summary=f.text("summary", max_len=20000, allow_empty=True),
        status=f.choice("status", CaseStatus),
        handling_unit_id=f.integer("handling_unit_id", required=creating),
        national_code=f.text(
            "national_code", max_len=CASE_LIMITS["national_code"], allow_empty=True
        ),
        group_size=f.integer("group_size", lo=0, hi=MAX_GROUP_SIZE),
        parties=f.items("parties", _party),
    )
    f.done()
    return data


@requires(Perm.CASES_WRITE)
async def create_case(request: web.Request) -> web.StreamResponse:
    data = _case_input(Fields(await read_json(request), CASE_FIELDS), True)
    p = principal(request)
    async with transaction(request.app[DB]) as db:
        row = await cases.create_case(db, p, data)
        await audit.record(
            db,
            audit_context(request),
            "case.create",
            "case",
            row.id,
            row.handling_unit_id,
            {"code": row.code, "kind": row.kind.value},
        )
    return ok(serialize.case(await view_case(request, row.id), request.app[CONFIG].tz), 201)


@requires(Perm.CASES_WRITE)
async def update_case(request: web.Request) -> web.StreamResponse:
    data = _case_input(Fields(await read_json(request), CASE_FIELDS), False)
    async with transaction(request.app[DB]) as db:
        row = await cases.update_case(db, principal(request), path_id(request), data)
        changed = sorted(k for k in CASE_FIELDS if getattr(data, k) is not None)
        await audit.record(
            db,
            audit_context(request),
            "case.update",
            "case",
            row.id,
            row.handling_unit_id,
            {"code": row.code, "fields": changed},
        )
    return ok(serialize.case(await view_case(request, row.id), request.app[CONFIG].tz))


@requires(Perm.CASES_WRITE)
async def grant_clearance(request: web.Request) -> web.StreamResponse:
    f = Fields(await read_json(request), {"account_id"})
    account_id = f.integer("account_id", required=True)
    f.done()
    assert account_id is not None
    async with transaction(request.app[DB]) as db:
        row = await cases.grant_clearance(db, principal(request), path_id(request), account_id)
        await record_granted(db, request, row.case_id, account_id)
    return ok({"case_id": row.case_id, "account_id": row.account_id}, 201)


async def record_granted(
    db: AsyncSession, request: web.Request, case_id: int, account_id: int
) -> None:
    await audit.record(
        db,
        audit_context(request),
        "case.clearance",
        "case",
        case_id,
        detail={"account_id": account_id},
    )


async def record_revoked(
    db: AsyncSession, request: web.Request, case_id: int, account_id: int
) -> None:
    await audit.record(
        db,
        audit_context(request),
        "case.clearance.revoke",
        "case",
        case_id,
        detail={"account_id": account_id},
    )


@requires(Perm.CASES_WRITE)
async def revoke_clearance(request: web.Request) -> web.StreamResponse:
    case_id, account_id = path_id(request), path_id(request, "account_id")
    async with transaction(request.app[DB]) as db:
        await cases.revoke_clearance(db, principal(request), case_id, account_id)
        await record_revoked(db, request, case_id, account_id)
    return web.Response(status=204)


@requires(Perm.CASES_WRITE)
async def list_clearances(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    async with request.app[DB]() as db:
        rows = await cases.list_clearances(db, principal(request), path_id(request))
    return ok(
        {
            "items": [
                {
                    "account_id": v.account.id,
                    "full_name": v.account.full_name,
                    "granted_by": v.granted_by,
                    "granted_at": v.granted_at.astimezone(tz).isoformat(),
                }
                for v in rows
            ]
        }
    )


def setup(app: web.Application) -> None:
    r = app.router
    for name, lst, get, create, update in (
        ("citizens", list_citizens, get_citizen, create_citizen, update_citizen),
        ("cases", list_cases, get_case, create_case, update_case),
    ):
        r.add_get(f"/api/v1/{name}", lst)
        r.add_post(f"/api/v1/{name}", create)
        r.add_get(f"/api/v1/{name}/{{id:[0-9]+}}", get)
        r.add_patch(f"/api/v1/{name}/{{id:[0-9]+}}", update)
    r.add_post("/api/v1/cases/{id:[0-9]+}/clearances", grant_clearance)
    r.add_post("/api/v1/cases/{id:[0-9]+}/reveal", reveal_case)
    r.add_post("/api/v1/citizens/{id:[0-9]+}/reveal", reveal_citizen)
    r.add_get("/api/v1/cases/{id:[0-9]+}/clearances", list_clearances)
    r.add_delete("/api/v1/cases/{id:[0-9]+}/clearances/{account_id:[0-9]+}", revoke_clearance)
    r.add_post("/api/v1/citizens/duplicates", citizen_duplicates)
