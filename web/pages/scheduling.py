"""Scheduling a reception session on pages: /sessions/new, /sessions/{id}/edit (title, kind,
chair, local date and times, endpoints, attendees, the agenda picked by search and put in
order) and /sessions/{id}/cancel (a confirmation that asks why).

The form works without JavaScript: "Tìm", "Thêm", "Lên", "Xuống" and "Bỏ" are submit buttons
of the one form, which comes back with what was typed and the change made; only "Lưu" saves.
The store finds every problem of a save at once (with the conflicts), and each is shown next
to its field."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling import planning
from sessions import audit, identity, receptions
from sessions.access import Perm, Principal
from sessions.db import transaction
from sessions.errors import Conflict, Invalid
from sessions.models import (
    Account,
    AccountRole,
    CaseFile,
    CaseParty,
    Endpoint,
    ReceptionSession,
    Role,
    SessionKind,
    SessionState,
    Unit,
)
from sessions.units import in_scope
from web.api.schedule import scheduling_config
from web.auth import audit_context
from web.http import principal, redirect, requires
from web.keys import CLOCK, DB
from web.pages import lookup
from web.pages.forms import Form, read_form, render
from web.pages.labels import SESSION_KINDS, SESSION_STATES
from web.validation import MAX_ID, ascii_int, path_id, query_date, query_text

_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_ROW = re.compile(r"^(attendees|agenda)\[([0-9]{1,3})\]\.(.+)$")
MAX_ROWS = 200
# Limits the store and the API hold too (web/api/receptions.py).
TITLE_MAX, NOTES_MAX, ITEM_NOTES_MAX, NAME_MAX, ORG_MAX = 300, 5000, 2000, 200, 300
REASON_MAX = 1000
PLANNED = (SessionState.DRAFT, SessionState.SCHEDULED)


# Reading the posted form --------------------------------------------------------------------


@dataclass
class Rows:
    """The attendee and agenda rows of a form, in order, as dicts of their fields."""

    attendees: list[dict[str, list[str]]]
    agenda: list[dict[str, list[str]]]


def rows_of(form: Form) -> Rows:
    found: dict[str, dict[int, dict[str, list[str]]]] = {"attendees": {}, "agenda": {}}
    for key, value in form.data.items():
        m = _ROW.match(key)
        if m is None or int(m[2]) >= MAX_ROWS:
            continue
        found[m[1]].setdefault(int(m[2]), {}).setdefault(m[3], []).append(value)
    return Rows(
        [found["attendees"][i] for i in sorted(found["attendees"])],
        [found["agenda"][i] for i in sorted(found["agenda"])],
    )


def with_rows(form: Form, rows: Rows) -> Form:
    """The form with its rows numbered again from 0 (after a move, an add or a removal)."""
    out = Form((k, v) for k, v in form.data.items() if not _ROW.match(k))
    for name, items in (("attendees", rows.attendees), ("agenda", rows.agenda)):
        for i, row in enumerate(items):
            for fld, values in row.items():
                for v in values:
                    out.data.add(f"{name}[{i}].{fld}", v)
    out.errors, out.message = form.errors, form.message
    return out


def _one(row: dict[str, list[str]], name: str) -> str:
    return (row.get(name) or [""])[0].strip()


def _id(raw: str) -> int | None:
    return ascii_int(raw.strip(), 1, MAX_ID) if raw.strip() else None


def _date(form: Form) -> date | None:
    raw = form.data.get("date", "").strip()
    m = _DATE.fullmatch(raw)
    if not raw:
        form.errors["date"] = "bắt buộc"
        return None
    try:
        if m is None:
            raise ValueError
        day = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        form.errors["date"] = "ngày không hợp lệ (ngày/tháng/năm)"
        return None
    if not 1900 <= day.year <= 2999:
        form.errors["date"] = "năm phải trong khoảng 1900–2999"
        return None
    return day


def _time(form: Form, name: str) -> time | None:
    raw = form.data.get(name, "").strip()
    if not raw:
        form.errors[name] = "bắt buộc"
        return None
    m = _TIME.fullmatch(raw[:5]) if len(raw) in (5, 8) else None
    if m is None:
        form.errors[name] = "giờ không hợp lệ (giờ:phút, ví dụ 08:00)"
        return None
    return time(int(m[1]), int(m[2]))


def _at(day: date | None, t: time | None, tz: ZoneInfo) -> datetime | None:
    return datetime.combine(day, t, tz) if day is not None and t is not None else None


def _choice(form: Form, name: str, allowed: dict[Any, str], enum_cls: Any) -> Any:
    raw = form.data.get(name, "")
    if not raw:
        form.errors[name] = "bắt buộc"
        return None
    try:
        value = enum_cls(raw)
    except ValueError:
        value = None
    if value not in allowed:
        form.errors[name] = "giá trị không hợp lệ"
        return None
    return value


def _ids(form: Form, name: str) -> tuple[int, ...]:
    out = []
    for raw in form.data.getall(name, []):
        value = _id(raw)
        if value is None:
            form.errors[name] = "giá trị không hợp lệ"
        else:
            out.append(value)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class Read:
    data: receptions.SessionInput
    attendee_rows: list[int]  # the form row of each attendee given to the store


def _attendees(form: Form, rows: Rows) -> tuple[tuple[receptions.AttendeeInput, ...], list[int]]:
    out, where = [], []
    for i, row in enumerate(rows.attendees):
        account = _one(row, "account_id")
        guest, org, cap = _one(row, "guest_name"), _one(row, "guest_organization"), ""
        cap = _one(row, "capacity")
        if not account and not guest and not org and not cap:
            continue  # a blank row
        account_id = _id(account) if account else None
        if account and account_id is None:
            form.errors[f"attendees[{i}].account_id"] = "giá trị không hợp lệ"
        for fld, value, hi in (
            ("guest_name", guest, NAME_MAX),
            ("guest_organization", org, ORG_MAX),
        ):
            if len(value) > hi:
                form.errors[f"attendees[{i}].{fld}"] = f"tối đa {hi} ký tự"
        if len(cap) > NAME_MAX:
            form.errors[f"attendees[{i}].capacity"] = f"tối đa {NAME_MAX} ký tự"
        if account_id is not None:
            guest = ""  # an account is named by its account
        out.append(receptions.AttendeeInput(account_id, guest, org, cap))
        where.append(i)
    return tuple(out), where


def _agenda(form: Form, rows: Rows) -> tuple[receptions.AgendaInput, ...]:
    out = []
    for i, row in enumerate(rows.agenda):
        case_id = _id(_one(row, "case_id")) or 0
        endpoint_id = _id(_one(row, "endpoint_id"))
        if endpoint_id is None:
            form.errors[f"agenda[{i}].endpoint_id"] = "chọn điểm cầu nơi công dân có mặt"
        citizens = [c for c in (_id(v) for v in row.get("citizen_ids", [])) if c is not None]
        notes = _one(row, "notes")
        if len(notes) > ITEM_NOTES_MAX:
            form.errors[f"agenda[{i}].notes"] = f"tối đa {ITEM_NOTES_MAX} ký tự"
        out.append(receptions.AgendaInput(case_id, endpoint_id or 0, tuple(citizens), notes))
    return tuple(out)


def read_session(form: Form, tz: ZoneInfo, with_agenda: bool) -> Read:
    rows = rows_of(form)
    day = _date(form)
    start, end = _time(form, "starts_at"), _time(form, "ends_at")
    attendees, where = _attendees(form, rows)
    # Required on both forms: the edit form sends every field, an empty one is not "unchanged".
    data = receptions.SessionInput(
        title=form.text("title", required=True, max_len=TITLE_MAX),
        kind=_choice(form, "kind", SESSION_KINDS, SessionKind),
        chair_id=form.integer("chair_id", required=True),
        central_endpoint_id=form.integer("central_endpoint_id", required=True),
        starts_at=_at(day, start, tz),
        ends_at=_at(day, end, tz),
        notes=form.text("notes", max_len=NOTES_MAX),
        endpoint_ids=_ids(form, "endpoint_ids"),
        attendees=attendees,
        agenda=_agenda(form, rows) if with_agenda else None,
        state=_choice(form, "state", dict.fromkeys(PLANNED, ""), SessionState),
    )
    return Read(data, where)


def _errors_for_form(exc_fields: dict[str, str], form: Form, where: list[int]) -> dict[str, str]:
    """The store's errors, named as the form's fields: attendee i of the store is row
    where[i] of the form; a time refused for want of a valid date is the date's fault."""
    out: dict[str, str] = {}
    for key, text in exc_fields.items():
        m = re.match(r"^attendees\[([0-9]+)\](.*)$", key)
        if m is not None and int(m[1]) < len(where):
            key = f"attendees[{where[int(m[1])]}]{m[2]}"
        elif key.startswith("endpoint_ids["):
            key = "endpoint_ids"
        if key in ("starts_at", "ends_at") and text == "bắt buộc" and form.data.get(key):
            continue
        out.setdefault(key, text)
    return out


_ROW_WORDS = {"attendees": "Thành phần tham dự, dòng", "agenda": "Chương trình tiếp, mục"}
_FORM_LABELS = {**receptions.LABELS, "date": "Ngày", "q": "Tìm hồ sơ"}


def summary(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field, its label, the problem) for the list above the form."""
    out = []
    for key, text in errors.items():
        m = _ROW.match(key)
        label = f"{_ROW_WORDS[m[1]]} {int(m[2]) + 1}" if m else _FORM_LABELS.get(key, "Phiên")
        out.append((key, label, text))
    return out


# Choices -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    protected: bool = False


@dataclass(frozen=True, slots=True)
class CaseChoice:
    case: CaseFile
    citizens: list[Person]  # those the viewer may see
    withheld: bool  # some party is not shown


async def _chairs(db: AsyncSession, p: Principal) -> list[tuple[int, str]]:
    """Leaders the store accepts as chair: of the caller's units, or of a unit above it."""
    rows = await db.execute(
        select(Account.id, Account.full_name, Account.title, Unit.path)
        .join(Unit, Unit.id == Account.unit_id)
        .join(AccountRole, AccountRole.account_id == Account.id)
        .where(Account.active.is_(True), AccountRole.role == Role.LEADER)
        .order_by(Account.name_key)
    )
    return [
        (i, f"{n} – {t}" if t else n)
        for i, n, t, path in rows
        if p.unit_path.startswith(path) or p.sees_unit(path)
    ]


async def _accounts(db: AsyncSession, p: Principal) -> list[tuple[int, str]]:
    rows = await db.execute(
        select(Account.id, Account.full_name, Account.title)
        .join(Unit, Unit.id == Account.unit_id)
        .where(Account.active.is_(True), in_scope(p))
        .order_by(Account.name_key)
    )
    return [(i, f"{n} – {t}" if t else n) for i, n, t in rows]


async def _endpoints(db: AsyncSession) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(central, participating) endpoints in service: any may take part in a session."""
    rows = list(
        await db.scalars(
            select(Endpoint).where(Endpoint.active.is_(True)).order_by(Endpoint.name_key)
        )
    )
    return (
        [(e.id, e.name) for e in rows if e.is_central],
        [(e.id, e.name) for e in rows if not e.is_central],
    )


async def case_choices(
    db: AsyncSession, request: web.Request, cases: list[CaseFile]
) -> list[CaseChoice]:
    """Each case with its parties as the viewer may see them (`sessions.identity`: a shown
    protected citizen is audited, so the caller commits `db`)."""
    ctx = audit_context(request)
    out = []
    for case in cases:
        ids = list(
            await db.scalars(
                select(CaseParty.citizen_id)
                .where(CaseParty.case_id == case.id)
                .order_by(CaseParty.citizen_id)
            )
        )
        shown = await identity.identities(db, ctx, ids, surface="schedule", case_id=case.id)
        people = [Person(c.id, c.full_name) for c in shown.values() if c is not None]
        out.append(CaseChoice(case, people, len(people) < len(ids)))
    return out


# The page ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    verb: str  # save, search, add, up, down, remove, attendee, drop
    arg: int = 0


def action_of(form: Form) -> Action:
    raw = form.data.get("action", "save")
    verb, _, arg = raw.partition(":")
    number = ascii_int(arg, 0, MAX_ID) if arg else 0
    if verb not in ("save", "search", "add", "up", "down", "remove", "attendee", "drop"):
        return Action("save")
    return Action(verb, number or 0)


def apply(action: Action, rows: Rows, form: Form, endpoint_for: int | None) -> None:
    """A change of the form's rows that is not a save."""
    items, i = rows.agenda, action.arg
    if action.verb == "add" and len(items) < MAX_ROWS:
        if not any(_one(r, "case_id") == str(i) for r in items):
            row: dict[str, list[str]] = {"case_id": [str(i)], "citizen_ids": ["all"]}
            if endpoint_for is not None:
                row["endpoint_id"] = [str(endpoint_for)]
            items.append(row)
    elif action.verb == "up" and 0 < i < len(items):
        items[i - 1], items[i] = items[i], items[i - 1]
    elif action.verb == "down" and 0 <= i < len(items) - 1:
        items[i], items[i + 1] = items[i + 1], items[i]
    elif action.verb == "remove" and 0 <= i < len(items):
        del items[i]
    elif action.verb == "attendee" and len(rows.attendees) < MAX_ROWS:
        rows.attendees.append({"account_id": [""]})
    elif action.verb == "drop" and 0 <= i < len(rows.attendees):
        del rows.attendees[i]


@dataclass(frozen=True, slots=True)
class AgendaRow:
    index: int
    case_id: int
    choice: CaseChoice | None
    chosen: frozenset[int]


async def _page(
    request: web.Request,
    form: Form,
    status: int,
    s: ReceptionSession | None,
    results: list[CaseFile] | None = None,
) -> web.StreamResponse:
    p = principal(request)
    rows = rows_of(form)
    if not rows.attendees or any(
        _one(r, "account_id") or _one(r, "guest_name") for r in rows.attendees[-1:]
    ):
        rows.attendees.append({})  # always one blank row to fill in
    form = with_rows(form, rows)
    async with transaction(request.app[DB]) as db:  # a shown identity is audited
        centrals, endpoints = await _endpoints(db)
        with_agenda = p.can(Perm.CASES_READ)
        ids = [_id(_one(r, "case_id")) for r in rows.agenda]
        cases = (
            await lookup.cases_by_id(db, (i for i in ids if i is not None)) if with_agenda else {}
        )
        choices = {c.case.id: c for c in await case_choices(db, request, list(cases.values()))}
        agenda = []
        for i, row in enumerate(rows.agenda):
            cid = ids[i] or 0
            picked = row.get("citizen_ids", [])
            choice = choices.get(cid)
            chosen = frozenset(
                c.id
                for c in (choice.citizens if choice else [])
                if "all" in picked or str(c.id) in picked
            )
            agenda.append(AgendaRow(i, cid, choice, chosen))
        found = (
            await case_choices(db, request, results)
            if results is not None and with_agenda
            else None
        )
        data = {
            "s": s,
            "form": form,
            "summary": summary(form.errors),
            "agenda": agenda,
            "attendee_rows": list(range(len(rows.attendees))),
            "results": found,
            "q": form.data.get("q", ""),
            "with_agenda": with_agenda,
            "kinds": [(k.value, v) for k, v in SESSION_KINDS.items()],
            "states": [(k.value, SESSION_STATES[k]) for k in PLANNED],
            "chairs": await _chairs(db, p),
            "accounts": await _accounts(db, p),
            "centrals": centrals,
            "endpoints": endpoints,
            "all_endpoints": centrals + endpoints,
            "limits": {
                "title": TITLE_MAX,
                "notes": NOTES_MAX,
                "item_notes": ITEM_NOTES_MAX,
                "name": NAME_MAX,
                "org": ORG_MAX,
            },
        }
    return render("sessions/schedule.html", request, data, status)


def _blank(request: web.Request, day: date, central: int | None) -> Form:
    return Form.of(
        {
            "date": day.isoformat(),
            "starts_at": "08:00",
            "ends_at": "11:00",
            "kind": SessionKind.PERIODIC,
            "state": SessionState.SCHEDULED,
            "central_endpoint_id": central,
        }
    )


async def _search(request: web.Request, form: Form) -> list[CaseFile]:
    q = form.data.get("q", "").strip()[:200]
    if not q:
        form.errors["q"] = "nhập mã hồ sơ, tên hồ sơ hoặc tên công dân"
        return []
    async with request.app[DB]() as db:
        return await receptions.agenda_candidates(db, principal(request), q)


async def _endpoint_for(request: web.Request, case_id: int, form: Form) -> int | None:
    """Where a case's citizens will most likely be: the chosen endpoint of the case's
    handling unit, else the first endpoint chosen."""
    chosen = [i for i in (_id(v) for v in form.data.getall("endpoint_ids", [])) if i is not None]
    async with request.app[DB]() as db:
        case = await db.get(CaseFile, case_id)
        if case is not None and chosen:
            rows = await db.execute(
                select(Endpoint.id, Endpoint.unit_id).where(Endpoint.id.in_(chosen))
            )
            units = {eid: unit for eid, unit in rows}
            for eid in chosen:
                if units.get(eid) == case.handling_unit_id:
                    return eid
    return chosen[0] if chosen else None


async def _handle(
    request: web.Request, form: Form, s: ReceptionSession | None
) -> web.StreamResponse:
    """One post of the form: a change of its rows (shown again), or a save."""
    action = action_of(form)
    if action.verb == "search":
        return await _page(request, form, 200, s, await _search(request, form))
    if action.verb != "save":
        rows = rows_of(form)
        endpoint = await _endpoint_for(request, action.arg, form) if action.verb == "add" else None
        apply(action, rows, form, endpoint)
        return await _page(request, with_rows(form, rows), 200, s)
    return await _save(request, form, s)


async def _save(request: web.Request, form: Form, s: ReceptionSession | None) -> web.StreamResponse:
    p = principal(request)
    now, cfg = request.app[CLOCK](), scheduling_config(request.app)
    read = read_session(form, cfg.tz, p.can(Perm.CASES_READ))
    data = read.data
    created = s is None
    if not created:
        # The edit form sends every field: an empty one is cleared, not left as it was.
        data = replace(data, notes=data.notes or "")
    check = planning.plan_check(data, now, cfg, created)
    try:
        async with transaction(request.app[DB]) as db:
            if s is None:
                row = await receptions.create_session(db, p, data, check, dict(form.errors))
                action = "session.create"
            else:
                row = await receptions.update_session(db, p, s.id, data, check, dict(form.errors))
                action = "session.update"
            await planning.on_saved(db, row, data, now, cfg, created)
            detail = None if s is None else {"fields": changed(s, row)}
            await audit.record(
                db, audit_context(request), action, "session", row.id, row.unit_id, detail
            )
            location = f"/sessions/{row.id}?saved=1"
    except (Invalid, Conflict) as exc:
        form.errors = _errors_for_form(exc.fields, form, read.attendee_rows)
        # One problem: its sentence; several: the list under it says each.
        many = len(form.errors) > 1
        form.message = f"Chưa lưu được: có {len(form.errors)} chỗ cần sửa." if many else exc.message
        return await _page(request, form, 422, s)
    return redirect(location)


def _plan_of(s: ReceptionSession) -> dict[str, object]:
    return {
        "title": s.title,
        "kind": s.kind,
        "unit_id": s.unit_id,
        "chair_id": s.chair_id,
        "central_endpoint_id": s.central_endpoint_id,
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "notes": s.notes,
        "state": s.state,
        "endpoint_ids": sorted(e.endpoint_id for e in s.endpoints),
        "attendees": [
            (a.account_id, a.guest_name, a.guest_organization, a.capacity) for a in s.attendees
        ],
        "agenda": [
            (i.case_id, i.endpoint_id, sorted(c.citizen_id for c in i.citizens), i.notes)
            for i in s.agenda
        ],
    }


def changed(before: ReceptionSession, after: ReceptionSession) -> list[str]:
    """The fields an edit changed, for the audit record (the form sends them all)."""
    old, new = _plan_of(before), _plan_of(after)
    return sorted(k for k in old if old[k] != new[k])


def _today(request: web.Request) -> date:
    return request.app[CLOCK]().astimezone(scheduling_config(request.app).tz).date()


async def _central(request: web.Request) -> int | None:
    async with request.app[DB]() as db:
        return await db.scalar(
            select(Endpoint.id).where(Endpoint.is_central.is_(True), Endpoint.active.is_(True))
        )


@requires(Perm.SESSIONS_WRITE)
async def new_page(request: web.Request) -> web.StreamResponse:
    day = query_date(request, "date") or _today(request) + timedelta(days=1)
    form = _blank(request, day, await _central(request))
    q = query_text(request, "q")
    if q.strip():
        form.data["q"] = q
        async with request.app[DB]() as db:
            found = await receptions.agenda_candidates(db, principal(request), q)
        return await _page(request, form, 200, None, found)
    return await _page(request, form, 200, None)


@requires(Perm.SESSIONS_WRITE)
async def new_post(request: web.Request) -> web.StreamResponse:
    return await _handle(request, await read_form(request), None)


async def _editable(request: web.Request) -> ReceptionSession:
    async with request.app[DB]() as db:
        s = await receptions.get_session(db, principal(request), path_id(request))
    if s.state not in receptions.EDITABLE:
        raise Conflict(
            f"Phiên “{s.title}” {receptions.STATE_WORDS[s.state]}, không sửa hay hủy được nữa.",
            {"state": receptions.STATE_WORDS[s.state]},
        )
    return s


async def form_of(request: web.Request, s: ReceptionSession) -> Form:
    """The edit form filled from the session, in local time; the agenda's citizens are those
    the editor may see (the others stay on the agenda, `receptions.update_session`)."""
    tz = scheduling_config(request.app).tz
    start, end = s.starts_at.astimezone(tz), s.ends_at.astimezone(tz)
    form = Form.of(
        {
            "title": s.title,
            "kind": s.kind,
            "state": s.state,
            "chair_id": s.chair_id,
            "central_endpoint_id": s.central_endpoint_id,
            "date": start.date().isoformat(),
            "starts_at": f"{start:%H:%M}",
            "ends_at": f"{end:%H:%M}",
            "notes": s.notes,
            "endpoint_ids": [e.endpoint_id for e in s.endpoints],
        }
    )
    for i, a in enumerate(s.attendees):
        for fld, value in (
            ("account_id", str(a.account_id or "")),
            ("guest_name", a.guest_name),
            ("guest_organization", a.guest_organization),
            ("capacity", a.capacity),
        ):
            form.data.add(f"attendees[{i}].{fld}", value)
    for i, item in enumerate(s.agenda):
        form.data.add(f"agenda[{i}].case_id", str(item.case_id))
        form.data.add(f"agenda[{i}].endpoint_id", str(item.endpoint_id))
        form.data.add(f"agenda[{i}].notes", item.notes)
        for c in item.citizens:
            form.data.add(f"agenda[{i}].citizen_ids", str(c.citizen_id))
    return form


@requires(Perm.SESSIONS_WRITE)
async def edit_page(request: web.Request) -> web.StreamResponse:
    s = await _editable(request)
    return await _page(request, await form_of(request, s), 200, s)


@requires(Perm.SESSIONS_WRITE)
async def edit_post(request: web.Request) -> web.StreamResponse:
    s = await _editable(request)
    return await _handle(request, await read_form(request), s)


# Cancelling ---------------------------------------------------------------------------------


async def _cancel_page(
    request: web.Request, s: ReceptionSession, form: Form, status: int
) -> web.StreamResponse:
    return render(
        "sessions/cancel.html", request, {"s": s, "form": form, "max": REASON_MAX}, status
    )


@requires(Perm.SESSIONS_WRITE)
async def cancel_page(request: web.Request) -> web.StreamResponse:
    return await _cancel_page(request, await _editable(request), Form(), 200)


@requires(Perm.SESSIONS_WRITE)
async def cancel_post(request: web.Request) -> web.StreamResponse:
    s = await _editable(request)
    form = await read_form(request)
    reason = form.text("reason", required=True, max_len=REASON_MAX)
    if reason is None:
        form.message = "Cần ghi lý do hủy phiên."
        return await _cancel_page(request, s, form, 422)
    p = principal(request)
    now, cfg = request.app[CLOCK](), scheduling_config(request.app)
    stamp = f"{now.astimezone(cfg.tz):%H:%M %d/%m/%Y}"
    note = f"Hủy phiên lúc {stamp} ({p.full_name}): {reason.strip()}"
    notes = f"{s.notes}\n\n{note}" if s.notes else note
    data = receptions.SessionInput(state=SessionState.CANCELLED, notes=notes)
    async with transaction(request.app[DB]) as db:
        row = await receptions.update_session(db, p, s.id, data)
        await planning.on_saved(db, row, data, now, cfg, created=False)
        await audit.record(
            db,
            audit_context(request),
            "session.cancel",
            "session",
            row.id,
            row.unit_id,
            {"reason": reason.strip()},
        )
    return redirect(f"/sessions/{s.id}?cancelled=1")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/sessions/new", new_page)
    r.add_post("/sessions/new", new_post)
    r.add_get("/sessions/{id:[0-9]+}/edit", edit_page)
    r.add_post("/sessions/{id:[0-9]+}/edit", edit_post)
    r.add_get("/sessions/{id:[0-9]+}/cancel", cancel_page)
    r.add_post("/sessions/{id:[0-9]+}/cancel", cancel_post)
