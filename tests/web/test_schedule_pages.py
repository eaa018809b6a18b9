"""Scheduling on pages (/sessions/new, /sessions/{id}/edit, /sessions/{id}/cancel) through
the test client: every problem of a post shown at once next to its field, nothing written;
the agenda picked by search (never by a withheld denouncer's name) and put in order without
JavaScript; reschedule and cancel with its reason; the calendar's way in."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.models import (
    AgendaCitizen,
    AgendaItem,
    AuditRecord,
    CaseFile,
    Citizen,
    ReceptionSession,
    SessionState,
)
from tests.scheduling.conftest import demo_ids
from tests.web.conftest import Caller, Login, Reply, count_rows
from web.keys import DB

Client = TestClient[Any, Any]
Form = list[tuple[str, str]]
TOMORROW = "2026-11-24"  # the fake clock's today is Monday 23/11/2026 in Hanoi
DENOUNCER = "Vũ Đức Cường"  # the party of HS-MAU-003, the seeded denunciation


def base_form(ids: dict[str, int], **over: str) -> Form:
    values = {
        "title": "Tiếp công dân định kỳ tháng 11",
        "kind": "periodic",
        "state": "scheduled",
        "chair_id": str(ids["acc:chair"]),
        "date": TOMORROW,
        "starts_at": "08:00",
        "ends_at": "10:30",
        "central_endpoint_id": str(ids["ep:BTCD"]),
        "notes": "",
    } | over
    return [(k, v) for k, v in values.items()]


def agenda_rows(ids: dict[str, int], *rows: tuple[str, str]) -> Form:
    out: Form = []
    for i, (case, ep) in enumerate(rows):
        out += [(f"agenda[{i}].case_id", str(ids[f"case:{case}"]))]
        out += [(f"agenda[{i}].endpoint_id", str(ids[f"ep:{ep}"]))]
    return out


async def post(caller: Caller, path: str, form: Form) -> Reply:
    return await caller.call("POST", path, data=[("csrf_token", caller.csrf), *form])


def error_at(page: str, field: str) -> str:
    m = re.search(rf'<span class="field-error" id="err-{re.escape(field)}">([^<]*)</span>', page)
    assert m is not None, f"no error shown at {field}"
    return html.unescape(m[1])


def codes_in_order(page: str) -> list[str]:
    agenda = page[page.index('<table class="agenda">') :]
    agenda = agenda[: agenda.index("</table>")]
    return re.findall(r"<strong>(HS-[A-Z0-9-]+)</strong>", agenda)


async def _session(client: Client, sid: int) -> ReceptionSession:
    from sessions.receptions import _LOAD

    async with client.app[DB]() as db:
        s: ReceptionSession | None = await db.scalar(
            select(ReceptionSession).options(*_LOAD).where(ReceptionSession.id == sid)
        )
        assert s is not None
        return s


def _sid(reply: Reply) -> int:
    assert reply.status == 303, reply.text[:3000]
    m = re.fullmatch(r"/sessions/([0-9]+)\?saved=1", reply.headers["Location"])
    assert m is not None, reply.headers["Location"]
    return int(m[1])


async def test_officer_schedules_a_session_with_endpoints_attendees_and_agenda(
    client: Client, as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    page = (await officer.get("/sessions/new")).text
    assert 'name="date" type="date" value="2026-11-24"' in page  # tomorrow by default
    form = [
        *base_form(ids),
        ("endpoint_ids", str(ids["ep:X-TP"])),
        ("endpoint_ids", str(ids["ep:X-HB"])),
        ("attendees[0].account_id", str(ids["acc:archivist"])),
        ("attendees[1].account_id", ""),  # a blank row between is skipped
        ("attendees[2].guest_name", "Nguyễn Thị Khách"),
        ("attendees[2].guest_organization", "Báo Nhân Dân"),
        ("attendees[2].capacity", "Phóng viên"),
        *agenda_rows(ids, ("HS-MAU-002", "X-HB"), ("HS-MAU-001", "X-TP")),
        ("action", "save"),
    ]
    sid = _sid(await post(officer, "/sessions/new", form))
    s = await _session(client, sid)
    assert s.state is SessionState.SCHEDULED
    assert s.unit_id == ids["unit:BTCD"]  # the central endpoint's unit
    # 08:00 in Hanoi is 01:00 UTC.
    assert s.starts_at.isoformat().startswith("2026-11-24T01:00")
    assert s.ends_at.isoformat().startswith("2026-11-24T03:30")
    assert {e.endpoint_id for e in s.endpoints} == {ids["ep:X-TP"], ids["ep:X-HB"]}
    assert [(a.account_id, a.guest_name) for a in s.attendees] == [
        (ids["acc:archivist"], ""),
        (None, "Nguyễn Thị Khách"),
    ]
    assert [(i.position, i.case_id) for i in s.agenda] == [
        (1, ids["case:HS-MAU-002"]),
        (2, ids["case:HS-MAU-001"]),
    ]
    detail = (await officer.get(f"/sessions/{sid}?saved=1")).text
    assert "Đã lưu lịch phiên." in detail and f'href="/sessions/{sid}/edit"' in detail
    async with client.app[DB]() as db:
        assert await db.scalar(
            select(AuditRecord.id).where(
                AuditRecord.action == "session.create", AuditRecord.object_id == str(sid)
            )
        )


async def test_every_error_is_shown_at_once_next_to_its_field_and_nothing_is_written(
    client: Client, as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    before = await count_rows(client)
    form = [
        *base_form(
            ids, title="", chair_id=str(ids["acc:officer"]), starts_at="10:00", ends_at="09:00"
        ),
        ("endpoint_ids", "999999"),
        ("attendees[0].guest_organization", "Báo Nhân Dân"),
        ("agenda[0].case_id", "999999"),
        ("agenda[0].endpoint_id", str(ids["ep:X-TP"])),
        ("action", "save"),
    ]
    reply = await post(officer, "/sessions/new", form)
    assert reply.status == 422, reply.text[:2000]
    page = reply.text
    assert error_at(page, "title") == "bắt buộc"
    assert error_at(page, "ends_at") == "phải sau giờ bắt đầu"
    assert "không có vai trò lãnh đạo" in error_at(page, "chair_id")
    assert error_at(page, "endpoint_ids") == "không có điểm cầu #999999"
    assert error_at(page, "attendees[0].guest_name") == "khách mời cần có họ tên"
    assert error_at(page, "agenda[0].case_id") == "không có hồ sơ #999999"
    assert 'id="error-summary"' in page
    # What was typed comes back.
    assert 'value="Báo Nhân Dân"' in page and 'value="10:00"' in page
    assert await count_rows(client) == before


async def test_a_clash_is_shown_next_to_the_chair_and_the_endpoint(
    client: Client, as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    before = await count_rows(client)
    # The demo's session, Wednesday 25/11 08:30–11:30, holds the chair and the endpoints.
    form = [
        *base_form(ids, date="2026-11-25", starts_at="09:00", ends_at="10:00"),
        ("endpoint_ids", str(ids["ep:X-TP"])),
        ("endpoint_ids", str(ids["ep:X-DH"])),
    ]
    reply = await post(officer, "/sessions/new", form)
    assert reply.status == 422, reply.text[:2000]
    chair = error_at(reply.text, "chair_id")
    assert chair.startswith("trùng lịch: người chủ trì Nguyễn Văn Minh đã chủ trì phiên")
    assert "08:30–11:30 ngày 25/11/2026" in chair
    assert "trùng lịch" in error_at(reply.text, "central_endpoint_id")
    assert "Điểm cầu xã Tân Phú" in error_at(reply.text, "endpoint_ids")
    assert await count_rows(client) == before


async def _uncleared_officer(client: Client, as_user: Login, ids: dict[str, int]) -> Caller:
    admin = await as_user("admin")
    reply = await admin.post(
        "/api/v1/accounts",
        {
            "username": "officer2",
            "full_name": "Cán bộ Chưa Được Cấp Quyền",
            "unit_id": ids["unit:P"],
            "roles": ["reception_officer"],
            "password": "mat-khau-du-dai",
        },
    )
    assert reply.status == 201, reply.body
    return await as_user("officer2", "mat-khau-du-dai")


async def test_the_agenda_search_never_finds_a_withheld_denouncer_by_name(
    client: Client, as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer2 = await _uncleared_officer(client, as_user, ids)
    # By name without diacritics: an ordinary citizen is found...
    page = (await officer2.get("/sessions/new?q=nguyen+van+an")).text
    assert "HS-MAU-001" in page and "Nguyễn Văn An" in page
    # ...the denouncer is not: a hit would say who denounced.
    page = (await officer2.get("/sessions/new?q=vu+duc+cuong")).text
    assert "HS-MAU-003" not in page and DENOUNCER not in page
    assert "Không tìm thấy hồ sơ nào đang xử lý." in page
    # By its code the case is found, its party withheld.
    reply = await post(
        officer2, "/sessions/new", [*base_form(ids), ("q", "HS-MAU-003"), ("action", "search")]
    )
    assert "HS-MAU-003" in reply.text and "Đã ẩn" in reply.text
    assert DENOUNCER not in reply.text
    # The cleared officer finds it by the name; the name itself is withheld there too (it is
    # revealed on the case page, with a reason), so nothing is recorded as shown.
    officer = await as_user("officer")
    page = (await officer.get("/sessions/new?q=vu+duc+cuong")).text
    assert "HS-MAU-003" in page and DENOUNCER not in page and "Đã ẩn" in page
    async with client.app[DB]() as db:
        viewed = await db.scalar(
            select(AuditRecord.id).where(
                AuditRecord.action == "identity.view", AuditRecord.actor_id == officer.account_id
            )
        )
    assert viewed is None


async def test_the_agenda_is_added_to_and_reordered_without_javascript(
    client: Client, as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    form = [*base_form(ids), ("endpoint_ids", str(ids["ep:X-TP"]))]
    before = await count_rows(client)
    # "Thêm": the case comes with its citizens ticked and the endpoint of its unit.
    reply = await post(
        officer, "/sessions/new", [*form, ("action", f"add:{ids['case:HS-MAU-001']}")]
    )
    assert reply.status == 200
    assert codes_in_order(reply.text) == ["HS-MAU-001"]
    assert re.search(r'name="agenda\[0\]\.citizen_ids" value="[0-9]+" checked', reply.text)
    assert re.search(
        rf'name="agenda\[0\]\.endpoint_id".*?<option value="{ids["ep:X-TP"]}" selected',
        reply.text,
        re.S,
    )
    two = form + agenda_rows(ids, ("HS-MAU-001", "X-TP"), ("HS-MAU-002", "X-TP"))
    reply = await post(officer, "/sessions/new", [*two, ("action", "down:0")])
    assert reply.status == 200 and codes_in_order(reply.text) == ["HS-MAU-002", "HS-MAU-001"]
    reply = await post(officer, "/sessions/new", [*two, ("action", "up:1")])
    assert codes_in_order(reply.text) == ["HS-MAU-002", "HS-MAU-001"]
    reply = await post(officer, "/sessions/new", [*two, ("action", "remove:0")])
    assert codes_in_order(reply.text) == ["HS-MAU-002"]
    assert await count_rows(client) == before  # moves write nothing
    swapped = form + agenda_rows(ids, ("HS-MAU-002", "X-TP"), ("HS-MAU-001", "X-TP"))
    sid = _sid(await post(officer, "/sessions/new", [*swapped, ("action", "save")]))
    s = await _session(client, sid)
    assert [i.case_id for i in s.agenda] == [ids["case:HS-MAU-002"], ids["case:HS-MAU-001"]]


async def test_reschedule_through_the_edit_form(client: Client, as_user: Login) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    async with client.app[DB]() as db:
        sid = await db.scalar(select(ReceptionSession.id))
    assert sid is not None
    page = (await officer.get(f"/sessions/{sid}/edit")).text
    assert 'value="2026-11-25"' in page and 'value="08:30"' in page  # local time
    form = base_form(ids, title="Tiếp công dân định kỳ (dời lịch)", date="2026-11-26")
    form += [("endpoint_ids", str(ids["ep:X-TP"])), ("action", "save")]
    assert _sid(await post(officer, f"/sessions/{sid}/edit", form)) == sid
    s = await _session(client, sid)
    assert s.title == "Tiếp công dân định kỳ (dời lịch)"
    assert s.starts_at.isoformat().startswith("2026-11-26T01:00")
    assert [e.endpoint_id for e in s.endpoints] == [ids["ep:X-TP"]]
    async with client.app[DB]() as db:
        rec = await db.scalar(select(AuditRecord).where(AuditRecord.action == "session.update"))
    assert rec is not None and rec.detail == {
        "fields": ["endpoint_ids", "ends_at", "starts_at", "title"]
    }, rec.detail


async def test_editing_keeps_the_citizens_the_editor_cannot_see(
    client: Client, as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    async with client.app[DB]() as db:
        denouncer = await db.scalar(select(Citizen.id).where(Citizen.full_name == DENOUNCER))
    form = [*base_form(ids), ("endpoint_ids", str(ids["ep:X-TP"]))]
    form += agenda_rows(ids, ("HS-MAU-003", "X-TP"))
    form += [("agenda[0].citizen_ids", str(denouncer)), ("action", "save")]
    sid = _sid(await post(officer, "/sessions/new", form))
    officer2 = await _uncleared_officer(client, as_user, ids)
    page = (await officer2.get(f"/sessions/{sid}/edit")).text
    assert DENOUNCER not in page and "Đã ẩn" in page
    edit = [*base_form(ids, title="Đổi tên phiên"), ("endpoint_ids", str(ids["ep:X-TP"]))]
    edit += [*agenda_rows(ids, ("HS-MAU-003", "X-TP")), ("action", "save")]
    assert _sid(await post(officer2, f"/sessions/{sid}/edit", edit)) == sid
    async with client.app[DB]() as db:
        heard = await db.scalars(
            select(AgendaCitizen.citizen_id)
            .join(AgendaItem, AgendaItem.id == AgendaCitizen.agenda_item_id)
            .where(AgendaItem.session_id == sid)
        )
        assert list(heard) == [denouncer]


async def test_cancel_asks_for_confirmation_and_a_reason(client: Client, as_user: Login) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = _sid(await post(officer, "/sessions/new", [*base_form(ids), ("action", "save")]))
    page = (await officer.get(f"/sessions/{sid}/cancel")).text
    assert "Xác nhận hủy phiên" in page and "Lý do hủy" in page
    before = await count_rows(client)
    reply = await post(officer, f"/sessions/{sid}/cancel", [("reason", "  ")])
    assert reply.status == 422 and error_at(reply.text, "reason") == "bắt buộc"
    assert await count_rows(client) == before
    reply = await post(officer, f"/sessions/{sid}/cancel", [("reason", "Lãnh đạo đi công tác")])
    assert reply.status == 303 and reply.headers["Location"] == f"/sessions/{sid}?cancelled=1"
    s = await _session(client, sid)
    assert s.state is SessionState.CANCELLED and "Lãnh đạo đi công tác" in s.notes
    async with client.app[DB]() as db:
        rec = await db.scalar(select(AuditRecord).where(AuditRecord.action == "session.cancel"))
    assert rec is not None and "Lãnh đạo đi công tác" in str(rec.detail)
    # Nothing more to do with it.
    assert (await officer.get(f"/sessions/{sid}/edit")).status == 409
    detail = (await officer.get(f"/sessions/{sid}")).text
    assert f"/sessions/{sid}/cancel" not in detail


async def test_who_may_schedule(client: Client, as_user: Login) -> None:
    for username in ("focal1", "chair", "archivist", "auditor"):
        caller = await as_user(username)
        assert (await caller.get("/sessions/new")).status == 403, username
        assert "Lên lịch phiên" not in (await caller.get("/calendar")).text
    officer = await as_user("officer")
    page = (await officer.get("/calendar?date=2026-11-10")).text
    assert 'href="/sessions/new"' in page  # never a day in the past: tomorrow
    page = (await officer.get("/calendar?view=week&date=2026-12-07")).text
    assert 'href="/sessions/new?date=2026-12-07"' in page
    archivist = await as_user("archivist")
    empty = (await archivist.get("/calendar")).text
    assert "chọn đơn vị trong ô “Lịch của tôi”" in empty


async def test_a_case_that_is_closed_is_not_offered(client: Client, as_user: Login) -> None:
    ids = await demo_ids(client)
    async with client.app[DB]() as db, db.begin():
        case = await db.get(CaseFile, ids["case:HS-MAU-001"])
        assert case is not None
        case.status = case.status.CLOSED
    officer = await as_user("officer")
    page = (await officer.get("/sessions/new?q=HS-MAU-001")).text
    assert "Không tìm thấy hồ sơ nào đang xử lý." in page


async def test_a_bad_date_is_the_date_s_fault_not_the_times(client: Client, as_user: Login) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    for day, said in (("", "bắt buộc"), ("2026-02-30", "ngày không hợp lệ (ngày/tháng/năm)")):
        reply = await post(officer, "/sessions/new", base_form(ids, date=day, ends_at="25:00"))
        assert reply.status == 422, reply.text[:2000]
        assert error_at(reply.text, "date") == said
        assert error_at(reply.text, "ends_at") == "giờ không hợp lệ (giờ:phút, ví dụ 08:00)"
        assert 'id="err-starts_at"' not in reply.text
