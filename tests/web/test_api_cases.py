"""A denouncer's identity: withheld from everyone not cleared for the case, in every answer;
shown to those cleared, each view audited; clearance granted only by the cleared."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.access import WITHHELD
from sessions.models import AgendaCitizen, AgendaItem, AuditRecord, CaseFile, Citizen, Endpoint
from tests.support import FakeClock
from tests.web.conftest import Caller, Login, Reply, count_rows, last_audit_id
from web.keys import DB

# The denouncer of the seeded case HS-MAU-003 and what would identify them.
NAME, ID_NUMBER, ADDRESS = "Vũ Đức Cường", "036078009876", "Thôn Nam, xã Tân Phú"
SECRETS = (NAME, ID_NUMBER, ADDRESS, "Vu Duc Cuong")
PASSWORD = "mat-khau-du-dai"


async def _seeded(client: TestClient[Any, Any]) -> tuple[int, int, int]:
    """Ids of the denunciation case, of its denouncer, and of an ordinary case."""
    async with client.app[DB]() as db:
        case = await db.scalar(select(CaseFile.id).where(CaseFile.code == "HS-MAU-003"))
        other = await db.scalar(select(CaseFile.id).where(CaseFile.code == "HS-MAU-001"))
        citizen = await db.scalar(select(Citizen.id).where(Citizen.full_name == NAME))
    assert case and citizen and other
    return case, citizen, other


async def _second_officer(as_user: Login) -> Caller:
    admin = await as_user("admin")
    reply = await admin.post(
        "/api/v1/accounts",
        {
            "username": "officer2",
            "full_name": "Ngô Thị Lan",
            "unit_id": 1,
            "roles": ["reception_officer"],
            "password": PASSWORD,
        },
    )
    assert reply.status == 201, reply.body
    return await as_user("officer2", PASSWORD)


def _assert_nothing_reveals(reply: Reply) -> None:
    assert reply.status in (200, 201), reply.text[:300]
    for secret in SECRETS:
        assert secret not in reply.text, (secret, reply.text[:500])


async def _identity_views(client: TestClient[Any, Any], after: int) -> list[AuditRecord]:
    async with client.app[DB]() as db:
        rows = await db.scalars(
            select(AuditRecord)
            .where(AuditRecord.id > after, AuditRecord.action == "identity.view")
            .order_by(AuditRecord.id)
        )
        return list(rows)


async def test_uncleared_accounts_see_the_identity_withheld(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    case_id, citizen_id, _ = await _seeded(client)
    before = await last_audit_id(client)
    for caller in (await as_user("archivist"), await _second_officer(as_user)):
        reply = await caller.get(f"/api/v1/cases/{case_id}")
        _assert_nothing_reveals(reply)
        assert reply.body["identity_protected"] is True
        assert reply.body["identity_withheld"] is True
        [party] = reply.body["parties"]
        assert party["withheld"] is True and party["full_name"] == WITHHELD
        assert "citizen_id" not in party and "id_number" not in party

        # The citizen records do not know the person at all: not listed (even the id links
        # records), not found alone, exactly as another unit's citizen.
        listed = await caller.get("/api/v1/citizens?per_page=200")
        _assert_nothing_reveals(listed)
        assert citizen_id not in [c["id"] for c in listed.body["items"]]
        alone = await caller.get(f"/api/v1/citizens/{citizen_id}")
        assert alone.status == 404 and not any(x in alone.text for x in SECRETS), alone.text
        unknown = await caller.get("/api/v1/citizens/999999")
        assert alone.body["error"]["message"].replace(str(citizen_id), "#") == unknown.body[
            "error"
        ]["message"].replace("999999", "#")

        # A search by name or ID number finds nothing: a hit alone would reveal them.
        for q in ("vu duc cuong", "Vũ Đức", "CƯỜNG", ID_NUMBER):
            found = await caller.get(f"/api/v1/citizens?q={q}")
            _assert_nothing_reveals(found)
            assert found.body["total"] == 0, (q, found.body)
        # Other citizens are found as usual.
        found = await caller.get("/api/v1/citizens?q=nguyen van an")
        assert [c["full_name"] for c in found.body["items"]] == ["Nguyễn Văn An"]
    # Nothing was shown, so nothing is recorded as shown.
    assert await _identity_views(client, before) == []


async def test_cleared_accounts_reveal_it_with_a_reason_and_each_reveal_is_audited(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    case_id, citizen_id, _ = await _seeded(client)
    for username in ("officer", "chair"):
        caller = await as_user(username)
        before = await last_audit_id(client)
        # Not shown on arrival, even to the cleared: withheld, and revealable.
        arrival = await caller.get(f"/api/v1/cases/{case_id}")
        _assert_nothing_reveals(arrival)
        assert arrival.body["identity_withheld"] is True
        assert arrival.body["identity_revealable"] is True
        assert arrival.body["parties"][0] == {
            "withheld": True,
            "revealable": True,
            "citizen_id": citizen_id,
            "full_name": WITHHELD,
            "role": "petitioner",
        }
        assert await _identity_views(client, before) == []
        # A reveal needs a reason; the refusal names the field and records nothing.
        for body in ({}, {"reason": "  "}, {"reason": "x" * 501}):
            refused = await caller.post(f"/api/v1/cases/{case_id}/reveal", body)
            assert refused.status == 422 and "reason" in refused.error_fields, refused.body
            assert NAME not in refused.text
        assert await _identity_views(client, before) == []
        for _ in range(2):  # each reveal is one view, audited once, with its reason
            reply = await caller.post(
                f"/api/v1/cases/{case_id}/reveal", {"reason": "Chuẩn bị buổi tiếp ngày 3/12"}
            )
            assert reply.status == 200, reply.body
            assert reply.body["identity_withheld"] is False
            [party] = reply.body["parties"]
            assert (party["full_name"], party["id_number"], party["citizen_id"]) == (
                NAME,
                ID_NUMBER,
                citizen_id,
            )
        views = await _identity_views(client, before)
        assert [(v.actor_username, v.object_type, v.object_id) for v in views] == [
            (username, "citizen", str(citizen_id))
        ] * 2
        assert all(
            v.detail
            == {"surface": "case", "case_id": case_id, "reason": "Chuẩn bị buổi tiếp ngày 3/12"}
            for v in views
        )
        if username == "officer":  # the chair has no citizen records to read
            before = await last_audit_id(client)
            alone = await caller.get(f"/api/v1/citizens/{citizen_id}")
            assert alone.body["identity_withheld"] is True and NAME not in alone.text
            found = await caller.get("/api/v1/citizens?q=vu duc cuong")
            assert [c["id"] for c in found.body["items"]] == [citizen_id]
            assert NAME not in found.text
            shown = await caller.post(
                f"/api/v1/citizens/{citizen_id}/reveal", {"reason": "Đối chiếu giấy tờ"}
            )
            assert shown.status == 200 and shown.body["full_name"] == NAME
            views = await _identity_views(client, before)
            assert [(v.object_type, v.object_id, v.detail["reason"]) for v in views] == [
                ("citizen", str(citizen_id), "Đối chiếu giấy tờ")
            ]
    # An account not cleared cannot reveal: nothing shown, nothing recorded as shown.
    archivist = await as_user("archivist")
    before = await last_audit_id(client)
    reply = await archivist.post(f"/api/v1/cases/{case_id}/reveal", {"reason": "Tò mò xem"})
    assert reply.status == 403 and NAME not in reply.text
    reply = await archivist.post(f"/api/v1/citizens/{citizen_id}/reveal", {"reason": "Tò mò"})
    assert reply.status == 404 and NAME not in reply.text
    assert await _identity_views(client, before) == []


async def _revealed(caller: Caller, case_id: int) -> Reply:
    return await caller.post(f"/api/v1/cases/{case_id}/reveal", {"reason": "Kiểm tra hồ sơ"})


async def test_clearance_grant_rules(client: TestClient[Any, Any], as_user: Login) -> None:
    case_id, _, ordinary = await _seeded(client)
    officer, officer2 = await as_user("officer"), await _second_officer(as_user)
    archivist, admin = await as_user("archivist"), await as_user("admin")
    ids = {c.username: c.account_id for c in (officer, officer2, archivist, admin)}
    url = f"/api/v1/cases/{case_id}/clearances"
    before, audit_before = await count_rows(client), await last_audit_id(client)
    refused = (
        (officer2, url, ids["officer2"], 403),  # not cleared: cannot clear itself
        (archivist, url, ids["archivist"], 403),  # no case writing at all
        (officer, url, ids["archivist"], 422),  # an archivist cannot be cleared
        (officer, url, ids["admin"], 422),  # nor an administrator
        (officer, url, 999_999, 422),  # no such account
        (officer, f"/api/v1/cases/{ordinary}/clearances", ids["officer2"], 422),  # nothing secret
        (officer, "/api/v1/cases/999999/clearances", ids["officer2"], 404),
    )
    for who, path, account_id, status in refused:
        reply = await who.post(path, {"account_id": account_id})
        assert reply.status == status, (who.username, path, account_id, reply.body)
    assert await count_rows(client) == before
    assert await last_audit_id(client) == audit_before

    reply = await officer.post(url, {"account_id": ids["officer2"]})
    assert reply.status == 201, reply.body
    reply = await _revealed(officer2, case_id)
    assert reply.body["identity_withheld"] is False
    assert reply.body["parties"][0]["full_name"] == NAME
    async with client.app[DB]() as db:
        grant = await db.scalar(select(AuditRecord).where(AuditRecord.action == "case.clearance"))
    assert grant is not None and grant.actor_username == "officer"
    assert grant.detail == {"account_id": ids["officer2"]}
    # Granting twice is harmless; the newly cleared may clear others in turn.
    assert (await officer.post(url, {"account_id": ids["officer2"]})).status == 201


async def test_whoever_records_a_denunciation_is_cleared(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    officer2, archivist = await _second_officer(as_user), await as_user("archivist")
    person = await officer2.post(
        "/api/v1/citizens", {"full_name": "Đặng Văn Tố", "id_number": "036099001122", "unit_id": 1}
    )
    assert person.status == 201
    reply = await officer2.post(
        "/api/v1/cases",
        {
            "kind": "denunciation",
            "subject_area": "administration",
            "title": "Tố cáo hành vi nhũng nhiễu",
            "handling_unit_id": 1,
            "parties": [{"citizen_id": person.body["id"]}],
        },
    )
    assert reply.status == 201, reply.body
    assert reply.body["identity_revealable"] is True
    revealed = await _revealed(officer2, reply.body["id"])
    assert revealed.body["parties"][0]["full_name"] == "Đặng Văn Tố"
    seen = await archivist.get(f"/api/v1/cases/{reply.body['id']}")
    assert seen.body["identity_withheld"] is True
    assert "Đặng Văn Tố" not in seen.text and "036099001122" not in seen.text


async def test_uncleared_officer_cannot_lift_or_route_around_the_protection(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    case_id, citizen_id, _ = await _seeded(client)
    officer2 = await _second_officer(as_user)
    before, audit_before = await count_rows(client), await last_audit_id(client)
    # Reclassifying the denunciation as a complaint would show the identity to everyone.
    reply = await officer2.patch(f"/api/v1/cases/{case_id}", {"kind": "complaint"})
    assert reply.status == 403 and "kind" in reply.error_fields, reply.body
    reply = await officer2.patch(
        f"/api/v1/cases/{case_id}", {"parties": [{"citizen_id": citizen_id}]}
    )
    assert reply.status == 403
    # Putting the denouncer's citizen id on the agenda would tell, by error or success,
    # whether that id is the denouncer.
    async with client.app[DB]() as db:
        central = await db.scalar(select(Endpoint.id).where(Endpoint.is_central.is_(True)))
    leaders = await officer2.get("/api/v1/accounts?role=leader")
    start = clock.now + timedelta(days=3)
    reply = await officer2.post(
        "/api/v1/sessions",
        {
            "title": "Phiên thử",
            "kind": "ad_hoc",
            "unit_id": 1,
            "chair_id": leaders.body["items"][0]["id"],
            "central_endpoint_id": central,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
            "agenda": [{"case_id": case_id, "endpoint_id": central, "citizen_ids": [citizen_id]}],
        },
    )
    # The denouncer's id is answered exactly as an id that is no party of the case.
    assert reply.status == 422, reply.body
    assert reply.error_fields == {"agenda[0].citizen_ids": f"#{citizen_id} không thuộc hồ sơ"}
    assert await count_rows(client) == before
    assert await last_audit_id(client) == audit_before

    # Linking the denouncer's citizen record to an ordinary case: the id is unknown to them.
    reply = await officer2.post(
        "/api/v1/cases",
        {
            "kind": "complaint",
            "subject_area": "land",
            "title": "Khiếu nại mới",
            "handling_unit_id": 1,
            "parties": [{"citizen_id": citizen_id}],
        },
    )
    assert reply.status == 422, reply.body
    assert reply.error_fields == {"parties[0].citizen_id": f"không có công dân #{citizen_id}"}
    assert await count_rows(client) == before


async def test_making_a_case_a_denunciation_protects_it(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    _, _, ordinary = await _seeded(client)
    officer, archivist = await as_user("officer"), await as_user("archivist")
    assert (await archivist.get(f"/api/v1/cases/{ordinary}")).body["identity_withheld"] is False
    reply = await officer.patch(f"/api/v1/cases/{ordinary}", {"kind": "mixed"})
    assert reply.status == 200, reply.body
    # The officer who reclassified it handles it, so may reveal the person.
    assert reply.body["identity_revealable"] is True
    assert (await _revealed(officer, ordinary)).body["parties"][0]["full_name"] == "Nguyễn Văn An"
    seen = await archivist.get(f"/api/v1/cases/{ordinary}")
    assert seen.body["identity_withheld"] is True and "Nguyễn Văn An" not in seen.text


async def _ordinary_with_denouncer(client: TestClient[Any, Any], as_user: Login) -> dict[str, Any]:
    """The cleared officer, with good intent, lists the denouncer of HS-MAU-003 as a party of
    an ordinary complaint and puts that complaint on the planned session's agenda."""
    _, citizen_id, _ = await _seeded(client)
    officer = await as_user("officer")
    made = await officer.post(
        "/api/v1/cases",
        {
            "kind": "complaint",
            "subject_area": "land",
            "title": "Khiếu nại việc cấp giấy chứng nhận",
            "handling_unit_id": 1,
            "parties": [{"citizen_id": citizen_id}],
        },
    )
    assert made.status == 201, made.body
    async with client.app[DB]() as db:
        central = await db.scalar(select(Endpoint.id).where(Endpoint.is_central.is_(True)))
    sid = (await officer.get("/api/v1/sessions")).body["items"][0]["id"]
    agenda = [{"case_id": made.body["id"], "endpoint_id": central, "citizen_ids": [citizen_id]}]
    for _ in range(2):  # replacing an agenda by one with the same positions works
        put = await officer.patch(f"/api/v1/sessions/{sid}", {"agenda": agenda})
        assert put.status == 200, put.body
    return {"sid": sid, "citizen": citizen_id, "case": made.body["id"], "central": central}


async def test_a_denouncer_on_an_ordinary_agenda_stays_withheld(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    w = await _ordinary_with_denouncer(client, as_user)
    for username in ("archivist", "focal1", "admin"):
        caller = await as_user(username)
        reply = await caller.get(f"/api/v1/sessions/{w['sid']}")
        _assert_nothing_reveals(reply)
        [item] = reply.body["agenda"]
        assert item["identity_withheld"] is True and item["citizen_ids"] == []
        page = await caller.get(f"/sessions/{w['sid']}")
        assert page.status == 200 and "Đã ẩn" in page.text
        assert not any(x in page.text for x in SECRETS)
    # Even the officer cleared for the denunciation sees it withheld here (it reveals the
    # identity on the case's page, with a reason): nothing shown, nothing audited.
    officer = await as_user("officer")
    before = await last_audit_id(client)
    reply = await officer.get(f"/api/v1/sessions/{w['sid']}")
    _assert_nothing_reveals(reply)
    assert reply.body["agenda"][0]["identity_withheld"] is True
    assert NAME not in (await officer.get(f"/sessions/{w['sid']}")).text
    assert await _identity_views(client, before) == []


async def test_an_uncleared_editor_keeps_the_citizens_it_cannot_see(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    """Rewriting the agenda without the withheld id neither drops the denouncer from the
    hearing nor tells the editor anything."""
    w = await _ordinary_with_denouncer(client, as_user)
    officer2 = await _second_officer(as_user)
    agenda = [{"case_id": w["case"], "endpoint_id": w["central"], "notes": "Sửa ghi chú"}]
    reply = await officer2.patch(f"/api/v1/sessions/{w['sid']}", {"agenda": agenda})
    assert reply.status == 200, reply.body
    _assert_nothing_reveals(reply)
    assert reply.body["agenda"][0]["identity_withheld"] is True
    async with client.app[DB]() as db:
        item = await db.scalar(select(AgendaItem).where(AgendaItem.session_id == w["sid"]))
        assert item is not None and item.notes == "Sửa ghi chú"
        heard = set(
            await db.scalars(
                select(AgendaCitizen.citizen_id).where(AgendaCitizen.agenda_item_id == item.id)
            )
        )
    assert heard == {w["citizen"]}
    # Nor can it take the withheld citizen off the ordinary case.
    reply = await officer2.patch(f"/api/v1/cases/{w['case']}", {"parties": []})
    assert reply.status == 403 and "parties" in reply.error_fields
