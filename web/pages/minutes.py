"""Minutes (biên bản) on pages: /sessions/{id}/minutes (every version of the session's and
its cases' minutes), the draft's form, one version as a document (/minutes/{id}) with its
hash, its PDF and DOCX, "Hoàn tất biên bản" for the chair, and the conclusion notice of a
case (/minutes/{id}/notice).

The forms read into the same store functions as the API (`sessions.minutes.store`), show
every error at once next to its field and write nothing on error; a final version is never
edited (409): a new version supersedes it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import identity
from sessions.access import Perm
from sessions.db import transaction
from sessions.errors import Conflict, Forbidden, Invalid
from sessions.minutes import facts, reading, store
from sessions.models import AgendaItem, Minutes, MinutesDirection, MinutesState, ReceptionSession
from web.api.minutes import record
from web.auth import audit_context
from web.http import principal, redirect, requires
from web.keys import CLOCK, CONFIG, DB
from web.minutes import MinutesView, format_of, minutes_view, notice_of, paper_file
from web.pages import lookup
from web.pages.forms import Form, read_form, render
from web.pages.labels import MINUTES_STATES as STATE_WORDS
from web.paper.fonts import FontMissing, find_fonts
from web.paper.minutes import minutes_paper
from web.validation import MAX_ID, ascii_int, parse_date, path_id, query_id, query_text

BLANK_DIRECTION_ROWS = 3
DOC_FORMATS = ("pdf", "docx")


# The list -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """The session's own minutes, or one agenda item's, with their versions."""

    item: AgendaItem | None
    label: str
    versions: list[Minutes]

    @property
    def key(self) -> str:
        return "" if self.item is None else str(self.item.id)

    @property
    def draft(self) -> Minutes | None:
        last = self.versions[-1] if self.versions else None
        return last if last is not None and last.state is MinutesState.DRAFT else None


async def _scopes(db: AsyncSession, s: ReceptionSession, versions: list[Minutes]) -> list[Scope]:
    cases = await lookup.cases_by_id(db, (i.case_id for i in s.agenda))
    out = [Scope(None, "Biên bản chung của buổi tiếp", [m for m in versions if m.item_key == 0])]
    for item in s.agenda:
        case = cases.get(item.case_id)
        label = f"Vụ việc {item.position}: {case.code} – {case.title}" if case else "Vụ việc"
        out.append(Scope(item, label, [m for m in versions if m.item_key == item.id]))
    return out


@requires(Perm.CASES_READ)
async def minutes_index(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with request.app[DB]() as db:
        from sessions.receptions import get_session

        s = await get_session(db, p, path_id(request))
        versions = await store.list_versions(db, p, s.id)
        scopes = await _scopes(db, s, versions)
    data = {
        "s": s,
        "scopes": scopes,
        "later": store.superseded(versions),
        "states": STATE_WORDS,
        "writable": s.state in store.WRITABLE_SESSIONS,
        "may_write": p.can(Perm.CASES_WRITE),
        "verified": {m.id: store.verifies(m) for m in versions},
    }
    return render("minutes/index.html", request, data)


# The draft's form -----------------------------------------------------------------------


def _direction_rows(form: Form) -> list[dict[str, str]]:
    units = form.data.getall("dir_unit_id", [])
    texts = form.data.getall("dir_text", [])
    dues = form.data.getall("dir_due_on", [])
    rows = []
    for i in range(max(len(units), len(texts), len(dues))):
        row = {
            "unit_id": units[i].strip() if i < len(units) else "",
            "text": texts[i] if i < len(texts) else "",
            "due_on": dues[i].strip() if i < len(dues) else "",
        }
        if row["unit_id"] or row["text"].strip() or row["due_on"]:
            rows.append(row)
    return rows


def _directions(form: Form) -> tuple[store.DirectionInput, ...]:
    rows = _direction_rows(form)
    if len(rows) > store.MAX_DIRECTIONS:
        form.errors["directions"] = f"tối đa {store.MAX_DIRECTIONS} ý kiến chỉ đạo"
        return ()
    out = []
    for i, row in enumerate(rows):
        fld = f"directions[{i}]"
        unit = ascii_int(row["unit_id"], 1, MAX_ID)
        if unit is None:
            form.errors[f"{fld}.unit_id"] = "hãy chọn đơn vị thực hiện"
        sub = Form([("text", row["text"])])
        text = sub.text("text", required=True, max_len=store.LIMITS["direction"])
        if "text" in sub.errors:
            form.errors[f"{fld}.text"] = (
                "hãy ghi nội dung chỉ đạo"
                if sub.errors["text"] == "bắt buộc"
                else sub.errors["text"]
            )
        due: date | None = None
        if row["due_on"]:
            try:
                due = parse_date(row["due_on"], "due_on")
            except Invalid as exc:
                form.errors[f"{fld}.due_on"] = exc.fields["due_on"]
        out.append(store.DirectionInput(unit or 0, text or "", due))
    return tuple(out)


def _input(form: Form) -> store.MinutesInput:
    texts = {part: form.text(part, max_len=store.LIMITS[part]) or "" for part in store.TEXT_PARTS}
    return store.MinutesInput(directions=_directions(form), **texts)


def _form_of(m: Minutes) -> Form:
    pairs: list[tuple[str, str]] = [(part, getattr(m, part)) for part in store.TEXT_PARTS]
    for d in m.directions:
        pairs += [
            ("dir_unit_id", str(d.unit_id)),
            ("dir_text", d.text),
            ("dir_due_on", d.due_on.isoformat() if d.due_on else ""),
        ]
    return Form(pairs)


async def _preview(
    db: AsyncSession,
    request: web.Request,
    s: ReceptionSession,
    item: AgendaItem | None,
    last: Minutes | None,
) -> Any:
    """The document as it would read now: the facts the system knows, and the text of the
    last saved version."""
    draft = Minutes(
        id=0,
        session_id=s.id,
        agenda_item_id=item.id if item else None,
        item_key=item.id if item else 0,
        version=0,
        revision=0,
        state=MinutesState.DRAFT,
        facts=await facts.gather(db, s, item),
        directions=[],
        **{part: getattr(last, part) if last else "" for part in store.TEXT_PARTS},
    )
    if last is not None:
        draft.directions = [
            MinutesDirection(
                position=d.position,
                unit_id=d.unit_id,
                unit_name=d.unit_name,
                text=d.text,
                due_on=d.due_on,
            )
            for d in last.directions
        ]
    read = await reading.read(db, audit_context(request), draft)
    paper = minutes_paper(draft, read, request.app[CONFIG].tz, principal(request).full_name)
    return replace(paper, stamp="Xem trước: phần hệ thống điền sẵn và nội dung đã lưu gần nhất.")


async def _edit_page(
    request: web.Request, session_id: int, item_id: int | None, form: Form | None, status: int
) -> web.StreamResponse:
    from sessions.receptions import get_session

    p = principal(request)
    async with transaction(request.app[DB]) as db:
        s = await get_session(db, p, session_id)
        if s.state not in store.WRITABLE_SESSIONS:  # the page says why, and offers no form
            data = {"s": s, "form": form or Form(), "not_yet": True}
            return render("minutes/edit.html", request, data, status)
        item = next((i for i in s.agenda if i.id == item_id), None)
        if item_id is not None and item is None:
            raise Invalid("Mục này không thuộc chương trình của phiên.", {"item": "không tồn tại"})
        case = await lookup.cases_by_id(db, [item.case_id] if item else [])
        if item is not None and not await store.may_write_case_part(db, p, case[item.case_id]):
            raise Forbidden(
                "Hồ sơ tố cáo: chỉ người được cấp quyền mới lập biên bản của vụ việc này."
            )
        last = await store.latest(db, s.id, item.id if item else 0)
        draft = last if last is not None and last.state is MinutesState.DRAFT else None
        if form is None:
            form = _form_of(last) if last is not None else Form()
        rows = _direction_rows(form)
        data = {
            "s": s,
            "item": item,
            "case": case.get(item.case_id) if item else None,
            "form": form,
            "draft": draft,
            "last": last,
            "rows": rows + [{"unit_id": "", "text": "", "due_on": ""}] * BLANK_DIRECTION_ROWS,
            "unit_choices": await lookup.unit_choices(db, p),
            "limits": store.LIMITS,
            "preview": await _preview(db, request, s, item, last),
            "protected": bool(item and identity.is_protected_case(case[item.case_id])),
        }
    return render("minutes/edit.html", request, data, status)


@requires(Perm.CASES_WRITE)
async def minutes_edit(request: web.Request) -> web.StreamResponse:
    return await _edit_page(request, path_id(request), query_id(request, "item"), None, 200)


@requires(Perm.CASES_WRITE)
async def minutes_save(request: web.Request) -> web.StreamResponse:
    """Save the draft (or start a version: the first, or one superseding the final)."""
    session_id, form = path_id(request), await read_form(request)
    item_id = form.integer("agenda_item_id")
    minutes_id = form.integer("minutes_id")
    revision = form.integer("revision")
    data = _input(form)
    empty = not data.directions and not any(getattr(data, p) for p in store.TEXT_PARTS)
    if empty and not form.errors:
        form.errors["presented"] = "hãy ghi ít nhất một nội dung của biên bản"

    async def again(status: int) -> web.StreamResponse:
        form.message = form.message or "Biên bản chưa lưu: hãy sửa các trường được đánh dấu."
        return await _edit_page(request, session_id, item_id, form, status)

    if form.errors:
        return await again(422)
    p = principal(request)
    try:
        async with transaction(request.app[DB]) as db:
            if minutes_id is None:
                m = await store.start_version(db, p, session_id, item_id, data)
                await record(db, request, "minutes.create", m, supersedes_id=m.supersedes_id)
            else:
                m = await store.save_draft(db, p, minutes_id, revision, data)
                await record(db, request, "minutes.save", m, revision=m.revision)
            if m.session_id != session_id:
                raise Invalid("Biên bản không thuộc phiên này.", {"minutes_id": "không khớp"})
    except Invalid as exc:
        form.fail(exc)
        return await again(422)
    except Conflict as exc:  # a final version, a newer save, a draft already there
        form.fail(exc)
        return await again(409)
    except Forbidden as exc:
        if not exc.fields:
            raise
        form.fail(exc)
        return await again(403)
    return redirect(f"/minutes/{m.id}?saved=1")


# One version ----------------------------------------------------------------------------


async def _view_page(
    request: web.Request,
    view: MinutesView,
    status: int = 200,
    form: Form | None = None,
    reveal_form: Form | None = None,
) -> web.StreamResponse:
    p = principal(request)
    data = {
        "v": view,
        "m": view.m,
        "paper": view.paper,
        "states": STATE_WORDS,
        "form": form or Form(),
        "reveal_form": reveal_form or Form(),
        "may_finalize": view.m.state is MinutesState.DRAFT
        and view.chair_id == p.account_id
        and p.can(Perm.SESSIONS_RUN),
        "may_write": p.can(Perm.CASES_WRITE),
        "kind": "minutes",
        "font_problem": _font_problem(request),
    }
    return render("minutes/view.html", request, data, status)


@requires(Perm.CASES_READ)
async def minutes_page(request: web.Request) -> web.StreamResponse:
    return await _view_page(request, await minutes_view(request, path_id(request)))


@requires(Perm.CASES_READ)
async def minutes_download(request: web.Request) -> web.StreamResponse:
    """The PDF or DOCX of a version (`?doc=notice`: of its conclusion notice) for a browser:
    a problem (no font on this machine, a bad format) is a page, not JSON."""
    fmt = format_of(request)
    doc = query_text(request, "doc", 10) or "minutes"
    if doc not in ("minutes", "notice"):
        raise Invalid("Tham số không hợp lệ.", {"doc": "phải là minutes hoặc notice"})
    view = await minutes_view(request, path_id(request))
    if fmt is None:  # no format asked: the choices, as a page
        data = {"v": view, "m": view.m, "font_problem": _font_problem(request)}
        return render("minutes/download.html", request, data)
    paper = notice_of(request, view) if doc == "notice" else view.paper
    return await paper_file(request, paper, fmt)


def _font_problem(request: web.Request) -> str:
    try:
        find_fonts(request.app[CONFIG].document_font_dir)
    except FontMissing as exc:
        return exc.message
    return ""


@requires(Perm.CASES_READ)
async def notice_page(request: web.Request) -> web.StreamResponse:
    view = await minutes_view(request, path_id(request))
    data = {"v": view, "m": view.m, "paper": notice_of(request, view), "kind": "notice"}
    data |= {"reveal_form": Form(), "states": STATE_WORDS, "font_problem": _font_problem(request)}
    return render("minutes/notice.html", request, data)


@requires(Perm.SESSIONS_RUN)
async def minutes_finalize(request: web.Request) -> web.StreamResponse:
    minutes_id, form = path_id(request), await read_form(request)
    if not form.checkbox("confirm"):
        form.errors["confirm"] = "hãy đánh dấu xác nhận hoàn tất biên bản"
        form.message = "Biên bản chưa hoàn tất: hãy xác nhận trước khi hoàn tất."
        return await _view_page(request, await minutes_view(request, minutes_id), 422, form)
    try:
        async with transaction(request.app[DB]) as db:
            m = await store.finalize(db, principal(request), minutes_id, request.app[CLOCK]())
            await record(db, request, "minutes.finalize", m, sha256=m.sha256)
    except (Conflict, Forbidden) as exc:
        form.fail(exc)
        status = 409 if isinstance(exc, Conflict) else 403
        return await _view_page(request, await minutes_view(request, minutes_id), status, form)
    return redirect(f"/minutes/{m.id}?finalized=1")


@requires(Perm.CASES_READ)
async def minutes_reveal(request: web.Request) -> web.StreamResponse:
    """ "Xem danh tính": this answer (the page, its PDF or DOCX, of the minutes or the
    notice) shows the protected identities once; each reveal is audited with its reason."""
    minutes_id, form = path_id(request), await read_form(request)
    reason = form.text("reason", required=True, max_len=identity.REASON_MAX) or ""
    fmt = form.data.get("format", "")
    doc = form.data.get("doc", "minutes")
    if fmt not in ("", *DOC_FORMATS):
        form.errors["format"] = "phải là pdf hoặc docx"
    if doc not in ("minutes", "notice"):
        form.errors["doc"] = "phải là minutes hoặc notice"
    if not form.errors:
        try:
            view = await minutes_view(request, minutes_id, reason)
        except Invalid as exc:
            form.errors.update(exc.fields)
        else:
            paper = notice_of(request, view) if doc == "notice" else view.paper
            if fmt in DOC_FORMATS:
                return await paper_file(request, paper, "pdf" if fmt == "pdf" else "docx")
            if doc == "notice":
                data = {"v": view, "m": view.m, "paper": paper, "kind": "notice"}
                data |= {"reveal_form": Form(), "states": STATE_WORDS, "font_problem": ""}
                return render("minutes/notice.html", request, data)
            return await _view_page(request, view)
    form.message = "Chưa xem được danh tính: hãy nêu lý do."
    return await _view_page(request, await minutes_view(request, minutes_id), 422, None, form)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/sessions/{id:[0-9]+}/minutes", minutes_index)
    r.add_get("/sessions/{id:[0-9]+}/minutes/edit", minutes_edit)
    r.add_post("/sessions/{id:[0-9]+}/minutes/edit", minutes_save)
    r.add_get("/minutes/{id:[0-9]+}", minutes_page)
    r.add_get("/minutes/{id:[0-9]+}/notice", notice_page)
    r.add_get("/minutes/{id:[0-9]+}/download", minutes_download)
    r.add_post("/minutes/{id:[0-9]+}/finalize", minutes_finalize)
    r.add_post("/minutes/{id:[0-9]+}/reveal", minutes_reveal)
