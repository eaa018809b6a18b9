"""A citizen's copy of the recording of their own reception, on the case page: the written
request (every error at once, nothing written), the check (the officer must have watched
it; what the system finds refuses it), the rendered file, the hand-over; each step audited.
The decision of what a copy would reveal is `identity.copy_hazards`, tested here directly."""

from __future__ import annotations

import asyncio
import html
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions import identity
from sessions.models import (
    AgendaCitizen,
    AgendaItem,
    AuditRecord,
    CaseFile,
    CaseParty,
    Citizen,
    CitizenRole,
    CopyState,
    ExportRecord,
    ExportState,
    ReceptionSession,
    RecordingCopy,
)
from sessions.text import search_key
from tests.web.conftest import Login, count_rows
from web.config import Config
from web.keys import DB
from web.sample_archive import TITLE, seed_sample_archive

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def _ids(client: TestClient[Any, Any]) -> tuple[int, int, int]:
    async with client.app[DB]() as db:
        case = await db.scalar(select(CaseFile).where(CaseFile.code == "HS-MAU-001"))
        sid = await db.scalar(select(ReceptionSession.id).where(ReceptionSession.title == TITLE))
        assert case is not None and sid is not None
        party = await db.scalar(select(CaseParty.citizen_id).where(CaseParty.case_id == case.id))
        assert party is not None
        return case.id, sid, party


async def _copy(client: TestClient[Any, Any]) -> RecordingCopy:
    async with client.app[DB]() as db:
        row: RecordingCopy | None = await db.scalar(select(RecordingCopy))
        assert row is not None
        return row


async def test_request_check_and_hand_over_a_copy(
    client: TestClient[Any, Any], config: Config, as_user: Login
) -> None:
    assert (await seed_sample_archive(config)).created
    case_id, sid, citizen = await _ids(client)
    officer = await as_user("officer")
    page = await officer.get(f"/cases/{case_id}")
    assert "Bản sao ghi hình cho công dân" in page.text and TITLE in page.text
    # The case's timeline: the session that heard it, playable from the case's segment.
    assert f"/sessions/{sid}/replay?case={case_id}" in page.text

    # Nothing filled in: every error at once, beside its field; nothing written.
    before = await count_rows(client)
    empty = {"csrf_token": officer.csrf, "session_id": str(sid), "request_ref": "x" * 201}
    bad = await officer.call("POST", f"/cases/{case_id}/copies", data=empty)
    assert bad.status == 422, bad.text
    text = html.unescape(bad.text)
    for message in ("bắt buộc", "tối đa 200 ký tự"):
        assert message in text
    assert 'id="err-citizen_id"' in bad.text and 'id="err-requested_on"' in bad.text
    assert await count_rows(client) == before
    future = {**empty, "citizen_id": str(citizen), "requested_on": "2099-01-01", "request_ref": ""}
    bad = await officer.call("POST", f"/cases/{case_id}/copies", data=future)
    assert bad.status == 422 and "không được sau ngày hôm nay" in html.unescape(bad.text)

    asked = {**future, "requested_on": "2026-11-20", "request_ref": "Đơn số 12/ĐN"}
    done = await officer.call("POST", f"/cases/{case_id}/copies", data=asked)
    assert done.status == 303 and done.headers["Location"].endswith("#copies"), done.text
    row = await _copy(client)
    assert row.state is CopyState.REQUESTED and row.citizen_id == citizen

    # The check: not without having watched the copy.
    check = f"/cases/{case_id}/copies/{row.id}/check"
    bad = await officer.call("POST", check, data={"csrf_token": officer.csrf})
    assert bad.status == 422 and 'id="err-decision"' in bad.text  # approve or refuse?
    approve = {"csrf_token": officer.csrf, "decision": "approve"}
    bad = await officer.call("POST", check, data=approve)
    assert bad.status == 422 and "hãy xem lại toàn bộ bản sao" in html.unescape(bad.text)
    refuse = {"csrf_token": officer.csrf, "decision": "refuse"}
    bad = await officer.call("POST", check, data=refuse)
    assert bad.status == 422 and "hãy ghi lý do không giao" in html.unescape(bad.text)
    assert (await _copy(client)).state is CopyState.REQUESTED
    ok = await officer.call("POST", check, data={**approve, "watched": "on"})
    assert ok.status == 303, ok.text
    row = await _copy(client)
    assert row.state is CopyState.APPROVED and row.export_id is not None

    # Hand-over: the file must be finished and the recipient named.
    handover = f"/cases/{case_id}/copies/{row.id}/handover"
    for _ in range(600):
        async with client.app[DB]() as db:
            job = await db.get(ExportRecord, row.export_id)
            assert job is not None
            if job.state in (ExportState.DONE, ExportState.FAILED):
                break
        await asyncio.sleep(0.1)  # polling the export worker, not standing in for it
    assert job.state is ExportState.DONE, job.error
    bad = await officer.call("POST", handover, data={"csrf_token": officer.csrf, "medium": "USB"})
    assert bad.status == 422 and 'id="err-recipient_name"' in bad.text
    form = {"csrf_token": officer.csrf, "recipient_name": "Nguyễn Văn An", "medium": "USB"}
    ok = await officer.call("POST", handover, data=form)
    assert ok.status == 303, ok.text
    row = await _copy(client)
    assert row.state is CopyState.HANDED_OVER and row.recipient_name == "Nguyễn Văn An"
    again = await officer.call("POST", handover, data=form)
    assert again.status == 422 and "Chỉ giao bản sao đã được kiểm tra" in html.unescape(again.text)

    async with client.app[DB]() as db:
        actions = list(
            await db.scalars(
                select(AuditRecord.action).where(AuditRecord.object_type == "recording_copy")
            )
        )
    assert actions == [
        "recording.copy_request",
        "recording.copy_approved",
        "recording.copy_handover",
    ]
    page = await officer.get(f"/cases/{case_id}")
    assert "Đã bàn giao" in page.text and "Giao cho Nguyễn Văn An (USB)" in page.text

    # Focal staff neither reach the section nor post to it.
    focal = await as_user("focal1")
    refused = await focal.call("POST", f"/cases/{case_id}/copies", data={**asked})
    assert refused.status == 403


async def test_what_a_copy_would_reveal(client: TestClient[Any, Any], config: Config) -> None:
    """The denunciation HS-MAU-003 heard in a session: its denouncer may have a copy (their
    own words); the person denounced may not (it shows who denounced them); nor may anyone
    when another protected citizen was heard in the segment."""
    async with client.app[DB]() as db:
        case = await db.scalar(select(CaseFile).where(CaseFile.code == "HS-MAU-003"))
        session = await db.scalar(select(ReceptionSession))
        assert case is not None and session is not None
        denouncer = await db.scalar(
            select(CaseParty.citizen_id).where(CaseParty.case_id == case.id)
        )
        assert denouncer is not None
        name = "Đỗ Văn Bị"
        accused = Citizen(full_name=name, name_key=search_key(name), unit_id=case.handling_unit_id)
        db.add(accused)
        await db.flush()
        db.add(CaseParty(case_id=case.id, citizen_id=accused.id, role=CitizenRole.DENOUNCED))
        item = AgendaItem(
            session_id=session.id,
            position=9,
            case_id=case.id,
            endpoint_id=session.central_endpoint_id,
        )
        db.add(item)
        await db.flush()
        db.add(AgendaCitizen(agenda_item_id=item.id, citizen_id=denouncer))
        await db.commit()

        own = await identity.copy_hazards(db, session.id, case.id, denouncer)
        theirs = await identity.copy_hazards(db, session.id, case.id, accused.id)
    assert own == []
    assert len(theirs) == 2 and any("người bị tố cáo" in h for h in theirs), theirs
    assert all(name not in h for h in theirs)
