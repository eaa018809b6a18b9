"""Intake by the reception officer: register and edit citizens (with a duplicate warning),
create and edit case files (citizens and their roles, a group's representatives), receive
documents, print the receipt, and manage who is cleared for a denouncer's identity.

Every form reads into the same store functions as the JSON API (`sessions.cases`), shows all
its errors at once next to their fields, writes nothing on error, and redirects on success."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, cases, documents, identity
from sessions.access import WITHHELD, Perm
from sessions.db import transaction
from sessions.errors import Forbidden, Invalid
from sessions.groups import MAX_GROUP_SIZE, REPRESENTATIVE_RULES
from sessions.models import CaseKind, CaseStatus, CitizenRole, SubjectArea, Unit
from web.api.cases import (
    CASE_LIMITS,
    CITIZEN_LIMITS,
    duplicate_views,
    record_granted,
    record_revoked,
)
from web.auth import audit_context
from web.documents import page_upload, upload_route
from web.http import principal, requires
from web.keys import DB
from web.pages import lookup
from web.pages.casefiles import case_page
from web.pages.forms import Form, read_form, render, save
from web.pages.labels import CASE_KINDS, CASE_STATUSES, CITIZEN_ROLES, SUBJECT_AREAS
from web.validation import MAX_ID, ascii_int, path_id, query_text

BLANK_PARTY_ROWS = 3
MAX_PARTIES = 200


# Citizens -------------------------------------------------------------------------------


def _citizen_input(form: Form) -> cases.CitizenInput:
    id_number = form.text("id_number", max_len=CITIZEN_LIMITS["id_number"])
    if id_number and not cases.ID_NUMBER_RE.match(id_number.strip()):
        form.errors["id_number"] = "9 hoặc 12 chữ số"  # told with the others, at once
    return cases.CitizenInput(
        full_name=form.text("full_name", required=True, max_len=CITIZEN_LIMITS["full_name"]),
        id_number=id_number,
        address=form.text("address", max_len=CITIZEN_LIMITS["address"]),
        phone=form.text("phone", max_len=CITIZEN_LIMITS["phone"]),
        unit_id=form.integer("unit_id", required=True),
    )


async def _citizen_page(
    request: web.Request,
    citizen_id: int | None,
    form: Form | None,
    status: int,
    duplicates: list[cases.CitizenView] | None = None,
) -> web.StreamResponse:
    p = principal(request)
    async with transaction(request.app[DB]) as db:
        if form is None:
            if citizen_id is None:
                form = Form.of({"unit_id": p.unit_id})
            else:
                view = await cases.get_citizen(db, audit_context(request), citizen_id)
                if view.withheld:
                    # The form would show the identity on arrival: it is revealed on asking.
                    raise Forbidden(
                        "Danh tính người tố cáo được bảo mật: hãy mở hồ sơ của công dân, "
                        "chọn «Xem danh tính» và nêu lý do trước khi sửa.",
                        {"id": "danh tính được bảo mật"},
                    )
                c = view.citizen
                form = Form.of(
                    {
                        "full_name": c.full_name,
                        "id_number": c.id_number,
                        "address": c.address,
                        "phone": c.phone,
                        "unit_id": c.unit_id,
                    }
                )
        choices = await lookup.unit_choices(db, p)
    data = {
        "form": form,
        "citizen_id": citizen_id,
        "unit_choices": choices,
        "limits": CITIZEN_LIMITS,
        "duplicates": duplicates or [],
    }
    return render("citizens/edit.html", request, data, status)


@requires(Perm.CITIZENS_WRITE)
async def citizen_new(request: web.Request) -> web.StreamResponse:
    return await _citizen_page(request, None, None, 200)


async def _save_citizen(request: web.Request, citizen_id: int | None) -> web.StreamResponse:
    form = await read_form(request)
    data = _citizen_input(form)
    rerender = partial(_citizen_page, request, citizen_id)
    if not form.errors and not form.checkbox("confirm_duplicate"):
        async with transaction(request.app[DB]) as db:  # a shown protected identity is audited
            dupes = await duplicate_views(db, request, data, citizen_id)
        if dupes:
            form.message = (
                "Có thể công dân này đã được ghi nhận. Kiểm tra danh sách dưới đây; nếu vẫn là "
                "người khác, đánh dấu xác nhận và lưu lại."
            )
            form.errors["confirm_duplicate"] = "cần xác nhận đây không phải người đã có"
            return await rerender(form, 409, dupes)

    async def work(db: AsyncSession) -> str:
        ctx = audit_context(request)
        if citizen_id is None:
            row = await cases.create_citizen(db, principal(request), data)
            action = "citizen.create"
        else:
            row = await cases.update_citizen(db, principal(request), citizen_id, data)
            action = "citizen.update"
        await audit.record(db, ctx, action, "citizen", row.id, row.unit_id)
        return f"/citizens?q={row.id_number or ''}&saved={row.id}"

    return await save(request, form, work, rerender)


@requires(Perm.CITIZENS_WRITE)
async def citizen_create(request: web.Request) -> web.StreamResponse:
    return await _save_citizen(request, None)


@requires(Perm.CITIZENS_WRITE)
async def citizen_edit(request: web.Request) -> web.StreamResponse:
    return await _citizen_page(request, path_id(request), None, 200)


@requires(Perm.CITIZENS_WRITE)
async def citizen_update(request: web.Request) -> web.StreamResponse:
    return await _save_citizen(request, path_id(request))


# Case files -----------------------------------------------------------------------------


def _parties(form: Form) -> tuple[cases.PartyInput, ...]:
    ids = form.data.getall("party_citizen_id", [])
    roles = form.data.getall("party_role", [])
    if len(ids) > MAX_PARTIES:
        form.errors["parties"] = f"tối đa {MAX_PARTIES} công dân"
        return ()
    out = []
    for i, raw in enumerate(ids):
        raw = raw.strip()
        if not raw:
            continue
        sub = Form([("citizen_id", raw)])
        cid = sub.integer("citizen_id")
        role_raw = roles[i] if i < len(roles) else CitizenRole.PETITIONER.value
        try:
            role = CitizenRole(role_raw)
        except ValueError:
            form.errors[f"parties[{i}].role"] = "tư cách không hợp lệ"
            continue
        if cid is None:
            form.errors[f"parties[{i}].citizen_id"] = sub.errors.get("citizen_id", "bắt buộc")
            continue
        out.append(cases.PartyInput(cid, role))
    return tuple(out)


def _choice(form: Form, name: str, enum_cls: Any, required: bool) -> Any:
    raw = form.data.get(name, "").strip()
    if not raw:
        if required:
            form.errors[name] = "bắt buộc"
        return None
    try:
        return enum_cls(raw)
    except ValueError:
        form.errors[name] = "giá trị không hợp lệ"
        return None


def _group_size(form: Form) -> int:
    raw = form.data.get("group_size", "").strip()
    if not raw:
        return 0
    sub = Form([("n", raw)])
    value = sub.integer("n")
    if value is None or value > MAX_GROUP_SIZE:
        form.errors["group_size"] = f"phải là số từ 1 đến {MAX_GROUP_SIZE}"
        return 0
    return value


def _case_input(form: Form, creating: bool) -> cases.CaseInput:
    return cases.CaseInput(
        kind=_choice(form, "kind", CaseKind, True),
        subject_area=_choice(form, "subject_area", SubjectArea, True),
        status=None if creating else _choice(form, "status", CaseStatus, True),
        title=form.text("title", required=True, max_len=CASE_LIMITS["title"]),
        summary=form.text("summary", max_len=CASE_LIMITS["summary"]),
        handling_unit_id=form.integer("handling_unit_id", required=True),
        national_code=form.text("national_code", max_len=CASE_LIMITS["national_code"]),
        group_size=_group_size(form),
        parties=_parties(form),
    )


def _rows(form: Form) -> list[dict[str, str]]:
    ids = form.data.getall("party_citizen_id", [])
    roles = form.data.getall("party_role", [])
    rows = [
        {"citizen_id": cid, "role": roles[i] if i < len(roles) else ""}
        for i, cid in enumerate(ids)
        if cid.strip()
    ]
    return rows + [{"citizen_id": "", "role": ""}] * BLANK_PARTY_ROWS


async def _case_form_page(
    request: web.Request, case_id: int | None, form: Form | None, status: int
) -> web.StreamResponse:
    p = principal(request)
    async with transaction(request.app[DB]) as db:
        case = None
        if case_id is not None:
            view = await cases.get_case(db, audit_context(request), case_id)
            case = view.case
            if view.protected and not view.cleared:
                raise Forbidden("Hồ sơ tố cáo: chỉ người được cấp quyền mới sửa được hồ sơ này.")
            if form is None:
                pairs: list[tuple[str, str]] = []
                for party in view.parties:
                    pairs += [
                        ("party_citizen_id", str(party.citizen_id)),
                        ("party_role", party.role.value),
                    ]
                form = Form(
                    [
                        *Form.of(
                            {
                                "kind": case.kind,
                                "subject_area": case.subject_area,
                                "status": case.status,
                                "title": case.title,
                                "summary": case.summary,
                                "handling_unit_id": case.handling_unit_id,
                                "national_code": case.national_code,
                                "group_size": case.group_size,
                            }
                        ).data.items(),
                        *pairs,
                    ]
                )
        form = form or Form.of({"handling_unit_id": p.unit_id})
        rows = _rows(form)
        # Only ids that are ids: a typed "99999999999" must not reach the database.
        parsed = (ascii_int(r["citizen_id"].strip(), 1, MAX_ID) for r in rows)
        ids = [i for i in parsed if i is not None]
        shown = await identity.identities(
            db, audit_context(request), ids, surface="case-form", case_id=case_id
        )
        data = {
            "form": form,
            "case": case,
            "rows": rows,
            "names": {str(k): v.full_name for k, v in shown.items() if v is not None},
            "unit_choices": await lookup.unit_choices(db, p),
            "kinds": CASE_KINDS,
            "areas": SUBJECT_AREAS,
            "statuses": CASE_STATUSES,
            "roles": CITIZEN_ROLES,
            "limits": CASE_LIMITS,
            "max_group": MAX_GROUP_SIZE,
            "rules": REPRESENTATIVE_RULES,
        }
    return render("cases/edit.html", request, data, status)


@requires(Perm.CASES_WRITE)
async def case_new(request: web.Request) -> web.StreamResponse:
    return await _case_form_page(request, None, None, 200)


async def _save_case(request: web.Request, case_id: int | None) -> web.StreamResponse:
    form = await read_form(request)
    data = _case_input(form, case_id is None)

    async def work(db: AsyncSession) -> str:
        ctx = audit_context(request)
        if case_id is None:
            row = await cases.create_case(db, principal(request), data)
            action, detail = "case.create", {"code": row.code, "kind": row.kind.value}
        else:
            row = await cases.update_case(db, principal(request), case_id, data)
            action, detail = "case.update", {"code": row.code, "fields": "form"}
        await audit.record(db, ctx, action, "case", row.id, row.handling_unit_id, detail)
        return f"/cases/{row.id}?saved=1"

    return await save(request, form, work, partial(_case_form_page, request, case_id))


@requires(Perm.CASES_WRITE)
async def case_create(request: web.Request) -> web.StreamResponse:
    return await _save_case(request, None)


@requires(Perm.CASES_WRITE)
async def case_edit(request: web.Request) -> web.StreamResponse:
    return await _case_form_page(request, path_id(request), None, 200)


@requires(Perm.CASES_WRITE)
async def case_update(request: web.Request) -> web.StreamResponse:
    return await _save_case(request, path_id(request))


@requires(Perm.CASES_WRITE)
@upload_route
async def documents_upload(request: web.Request) -> web.StreamResponse:
    async def rerender(errors: dict[str, str], status: int) -> web.StreamResponse:
        form = Form()
        form.errors.update(errors)
        form.message = "Không nhận được tài liệu: không tệp nào được lưu. Xem lỗi bên dưới."
        return await case_page(request, path_id(request), status, upload_form=form)

    return await page_upload(request, rerender)


@requires(Perm.CASES_WRITE)
async def clearance_grant(request: web.Request) -> web.StreamResponse:
    case_id, form = path_id(request), await read_form(request)
    account_id = form.integer("account_id", required=True)

    async def work(db: AsyncSession) -> str:
        assert account_id is not None
        row = await cases.grant_clearance(db, principal(request), case_id, account_id)
        await record_granted(db, request, row.case_id, account_id)
        return f"/cases/{case_id}?cleared=1#clearances"

    async def rerender(f: Form, status: int) -> web.StreamResponse:
        return await case_page(request, case_id, status, clearance_form=f)

    return await save(request, form, work, rerender)


@requires(Perm.CASES_WRITE)
async def clearance_revoke(request: web.Request) -> web.StreamResponse:
    case_id, form = path_id(request), await read_form(request)
    account_id = form.integer("account_id", required=True)

    async def work(db: AsyncSession) -> str:
        assert account_id is not None
        await cases.revoke_clearance(db, principal(request), case_id, account_id)
        await record_revoked(db, request, case_id, account_id)
        return f"/cases/{case_id}?revoked=1#clearances"

    async def rerender(f: Form, status: int) -> web.StreamResponse:
        return await case_page(request, case_id, status, revoke_form=f)

    return await save(request, form, work, rerender)


# The receipt ----------------------------------------------------------------------------


@requires(Perm.CASES_READ)
async def receipt(request: web.Request) -> web.StreamResponse:
    """Giấy biên nhận: the documents received (one batch, `?batch=`, or all), laid out as an
    administrative document (Decree 30/2020) for printing on A4."""
    p = principal(request)
    case_id = path_id(request)
    batch = query_text(request, "batch", 40) or None
    async with transaction(request.app[DB]) as db:
        view = await cases.get_case(db, audit_context(request), case_id)
        docs = await documents.list_documents(db, p, case_id, batch)
        if docs is None:
            raise Forbidden("Tài liệu của hồ sơ tố cáo chỉ dành cho người được cấp quyền.")
        if batch is not None and not docs:
            raise Invalid("Không có lượt nhận tài liệu này.", {"batch": "không tồn tại"})
        unit = await db.get(Unit, view.case.handling_unit_id)
        root = await db.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    citizens = [x for x in view.parties if x.role is not CitizenRole.DENOUNCED]
    data = {
        "view": view,
        "c": view.case,
        "docs": docs,
        "batch": batch,
        "unit": unit.name if unit else "",
        "place": root.name if root else "",
        "when": docs[-1].document.received_at if docs else None,
        "receiver": docs[-1].received_by if docs else p.full_name,
        "citizens": citizens,
        "withheld_text": WITHHELD,
    }
    return render("cases/receipt.html", request, data)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/citizens/new", citizen_new)
    r.add_post("/citizens/new", citizen_create)
    r.add_get("/citizens/{id:[0-9]+}/edit", citizen_edit)
    r.add_post("/citizens/{id:[0-9]+}/edit", citizen_update)
    r.add_get("/cases/new", case_new)
    r.add_post("/cases/new", case_create)
    r.add_get("/cases/{id:[0-9]+}/edit", case_edit)
    r.add_post("/cases/{id:[0-9]+}/edit", case_update)
    r.add_post("/cases/{id:[0-9]+}/documents", documents_upload)
    r.add_get("/cases/{id:[0-9]+}/receipt", receipt)
    r.add_post("/cases/{id:[0-9]+}/clearances", clearance_grant)
    r.add_post("/cases/{id:[0-9]+}/clearances/revoke", clearance_revoke)
