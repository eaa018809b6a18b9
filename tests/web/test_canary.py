"""The canary: a denouncer with a unique name and ID number, and every surface crawled.

Each route of the route table (pages and API) and each message type of the room's signaling
is called as every role that is not cleared for the denunciation, with the ids the seed makes
valid; the test fails if the canary's name, ID number, address or phone appears in any body,
header or message. Routes are read from the router and message types from the bridge's
handler table, so a surface added later is crawled without anyone remembering to.

The crawl runs in three passes: read everything, try to write the canary into other records
(the three-request attack of issue 9: the citizen as party of a new case, that case on an
agenda), read everything again. Then a cleared account crawls the same routes and every answer
that shows the canary must have left an `identity.view` audit record of that request.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge import CLIENT_MESSAGE_TYPES
from sessions import receptions
from sessions.accounts import hash_password
from sessions.db import transaction
from sessions.models import (
    Account,
    AccountRole,
    AgendaCitizen,
    AgendaItem,
    AuditRecord,
    CaseClearance,
    CaseDocument,
    CaseFile,
    CaseKind,
    CaseParty,
    CaseStatus,
    Citizen,
    Endpoint,
    ExportRecord,
    ExportState,
    Minutes,
    MinutesState,
    Notification,
    ReceptionSession,
    RecordingAttachment,
    RecordingRecord,
    RecordingState,
    Role,
    SessionEndpoint,
    SessionKind,
    SessionState,
    SubjectArea,
    Unit,
)
from sessions.text import search_key
from tests.support import DEMO_PASSWORD, FakeClock
from tests.web.conftest import Caller, Login, Reply
from tests.web.test_roles import app_routes
from web.auth import COOKIE
from web.bundle import BUNDLES
from web.keys import DB

CANARY_NAME = "Đoàn Thị Canarixq Yến"
CANARY_ID_NUMBER = "079299887766"
CANARY_ADDRESS = "Số 77 ngõ Qzwcanary, xã Tân Phú"
CANARY_PHONE = "0912000777"
# Lower-cased needles: the name's unusual part survives NFC/NFD, search keys, JSON escapes
# (it is ASCII) and URL encoding; the numbers survive everything.
NEEDLES = ("canarixq", "qzwcanary", CANARY_ID_NUMBER, CANARY_PHONE, search_key(CANARY_NAME))

# Accounts that are not cleared for the canary's denunciation: every demo role but the two
# the seed clears, and an officer and a leader who could be (they hold clearable roles).
UNCLEARED = ("admin", "focal1", "focal2", "archivist", "auditor", "officer2", "leader2")
CLEARED = "officer"

# A state-changing call the crawl must not make on itself: it would end its own sign-in.
SELF_ENDING = frozenset({"/logout", "/api/v1/auth/logout"})


@dataclass
class Seeded:
    citizen: int
    denunciation: int
    ordinary: int
    live_session: int
    planned_session: int
    endpoint: int
    unit: int


@dataclass
class Leak:
    where: str
    needle: str
    excerpt: str


@dataclass
class Crawl:
    leaks: list[Leak] = field(default_factory=list)
    requests: int = 0
    shown: list[tuple[str, str]] = field(default_factory=list)  # (where, request id)

    def check(self, where: str, text: str, request_id: str = "", echo: str = "") -> bool:
        """Look for every needle in `text`. `echo` is what the caller itself typed (a search
        box shows it back): that exact string is not a leak, a search hit around it is."""
        low = (text.replace(echo, "") if echo else text).lower()
        found = False
        for needle in NEEDLES:
            at = low.find(needle.lower())
            if at >= 0:
                self.leaks.append(Leak(where, needle, text[max(0, at - 80) : at + 80]))
                found = True
        if found and request_id:
            self.shown.append((where, request_id))
        return found


async def _account(db: AsyncSession, username: str, name: str, role: Role, unit: Unit) -> None:
    db.add(
        Account(
            username=username,
            full_name=name,
            name_key=search_key(name),
            title="",
            unit_id=unit.id,
            password_hash=hash_password(DEMO_PASSWORD),
            roles=[AccountRole(role=role)],
        )
    )


async def seed_canary(client: TestClient[Any, Any], now: datetime) -> Seeded:
    """The canary denounces an official (a case only `officer` and `chair` are cleared for),
    is also the petitioner of an ordinary complaint, and is heard for both in a live session
    and listed for the ordinary one in a planned session, with a recording and an export."""
    async with transaction(client.app[DB]) as db:
        root = await db.scalar(select(Unit).where(Unit.code == "P"))
        commune = await db.scalar(select(Unit).where(Unit.code == "X-TP"))
        assert root is not None and commune is not None
        await _account(db, "officer2", "Cán bộ Chưa Được Cấp Quyền", Role.RECEPTION_OFFICER, root)
        await _account(db, "leader2", "Lãnh đạo Chưa Được Cấp Quyền", Role.LEADER, root)
        officer = await db.scalar(select(Account).where(Account.username == "officer"))
        chair = await db.scalar(select(Account).where(Account.username == "chair"))
        focal1 = await db.scalar(select(Account).where(Account.username == "focal1"))
        assert officer and chair and focal1 and focal1.endpoint_id
        central = await db.scalar(select(Endpoint).where(Endpoint.is_central.is_(True)))
        assert central is not None
        canary = Citizen(
            full_name=CANARY_NAME,
            name_key=search_key(CANARY_NAME),
            id_number=CANARY_ID_NUMBER,
            address=CANARY_ADDRESS,
            phone=CANARY_PHONE,
            unit_id=commune.id,
        )
        db.add(canary)
        await db.flush()
        cases = []
        for code, kind, unit in (
            ("HS-CANARY-TC", CaseKind.DENUNCIATION, root),
            ("HS-CANARY-KN", CaseKind.COMPLAINT, commune),
        ):
            title = f"Hồ sơ kiểm thử {code}"
            row = CaseFile(
                code=code,
                kind=kind,
                subject_area=SubjectArea.LAND,
                title=title,
                title_key=search_key(title),
                status=CaseStatus.RECEIVED,
                handling_unit_id=unit.id,
                created_by_id=officer.id,
                parties=[CaseParty(citizen_id=canary.id)],
            )
            db.add(row)
            cases.append(row)
        await db.flush()
        denunciation, ordinary = cases
        db.add_all(
            CaseClearance(case_id=denunciation.id, account_id=a.id, granted_by_id=officer.id)
            for a in (officer, chair)
        )
        sessions = []
        for title, state, start in (
            ("Phiên kiểm thử đang diễn ra", SessionState.LIVE, now - timedelta(minutes=30)),
            ("Phiên kiểm thử đã lên lịch", SessionState.SCHEDULED, now + timedelta(days=3)),
        ):
            s = ReceptionSession(
                title=title,
                title_key=search_key(title),
                kind=SessionKind.PERIODIC,
                state=state,
                unit_id=root.id,
                chair_id=chair.id,
                central_endpoint_id=central.id,
                starts_at=start,
                ends_at=start + timedelta(hours=3),
                created_by_id=officer.id,
                endpoints=[SessionEndpoint(endpoint_id=focal1.endpoint_id)],
                attendees=[],
                agenda=[
                    AgendaItem(
                        position=i + 1,
                        case_id=c.id,
                        endpoint_id=focal1.endpoint_id,
                        citizens=[AgendaCitizen(citizen_id=canary.id)],
                    )
                    for i, c in enumerate(
                        (ordinary, denunciation) if state is SessionState.LIVE else (ordinary,)
                    )
                ],
            )
            db.add(s)
            sessions.append(s)
        await db.flush()
        live = sessions[0]
        rec = RecordingRecord(
            session_id=live.id,
            endpoint_id=focal1.endpoint_id,
            track_kind="video",
            track_source="camera",
            storage_key=f"sessions/{live.id}/canary/camera.webm",
            size_bytes=1000,
            sha256="0" * 64,
            duration_ms=60_000,
            codec="VP8",
            state=RecordingState.STORED,
            started_at=now - timedelta(minutes=20),
        )
        db.add(rec)
        await db.flush()
        for item in live.agenda:
            db.add(
                RecordingAttachment(
                    case_id=item.case_id,
                    session_id=live.id,
                    recording_id=rec.id,
                    agenda_item_id=item.id,
                    position=item.position,
                    heard_from=now - timedelta(minutes=20),
                    heard_to=now - timedelta(minutes=10),
                    offset_ms=0,
                    length_ms=600_000,
                    sha256="0" * 64,
                )
            )
        # Minutes of the live session and of the denunciation heard in it (a draft and a
        # final version): the facts name the canary by id, the pages must not by name.
        from sessions.minutes.facts import gather
        from sessions.minutes.store import digest

        loaded = await receptions.get_session(db, _system(root), live.id)
        heard: tuple[tuple[AgendaItem | None, MinutesState], ...] = (
            (None, MinutesState.DRAFT),
            (loaded.agenda[1], MinutesState.LOCKED),
        )
        for heard_item, final_state in heard:
            m = Minutes(
                session_id=live.id,
                agenda_item_id=heard_item.id if heard_item else None,
                item_key=heard_item.id if heard_item else 0,
                version=1,
                revision=1,
                presented="Nội dung kiểm thử.",
                conclusions="Kết luận kiểm thử.",
                facts=await gather(db, loaded, heard_item),
                state=MinutesState.DRAFT,
                author_id=officer.id,
                directions=[],
            )
            db.add(m)
            await db.flush()
            if final_state is MinutesState.LOCKED:
                m.state, m.locked_at, m.finalized_by_id = final_state, now, chair.id
                m.sha256 = digest(m)
                await db.flush()
        db.add(
            ExportRecord(
                session_id=live.id,
                case_id=ordinary.id,
                state=ExportState.FAILED,
                error="Kiểm thử",
                requested_by_id=officer.id,
            )
        )
        await db.flush()
        return Seeded(
            canary.id,
            denunciation.id,
            ordinary.id,
            live.id,
            sessions[1].id,
            focal1.endpoint_id,
            root.id,
        )


def _system(root: Unit) -> Any:
    from sessions.access import Principal

    return Principal(0, "system", "Hệ thống", frozenset({Role.ADMIN}), root.id, root.path, None)


# Filling the route table ------------------------------------------------------------------

ID_COLUMNS: dict[str, Any] = {
    "units": Unit.id,
    "endpoints": Endpoint.id,
    "accounts": Account.id,
    "citizens": Citizen.id,
    "cases": CaseFile.id,
    "sessions": ReceptionSession.id,
    "recordings": RecordingRecord.id,
    "exports": ExportRecord.id,
    "notifications": Notification.id,
    "documents": CaseDocument.id,
    "minutes": Minutes.id,
}
_PARAM = re.compile(r"^\{([^}:]+)(:[^}]*)?\}(.*)$")


async def _ids(client: TestClient[Any, Any]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    async with client.app[DB]() as db:
        for name, column in ID_COLUMNS.items():
            out[name] = list(await db.scalars(select(column).order_by(column)))
    # Bundles live in memory, not in a table: those made so far, and one that is not there.
    out["bundles"] = sorted(client.app[BUNDLES].jobs) or [1]
    return out


def expand(path: str, ids: dict[str, list[int]], values: dict[str, list[str]]) -> list[str]:
    """Every concrete path the seed makes valid for a canonical route path. A parameter the
    crawl does not know fails the test: teach the crawl about it, do not skip the route."""
    paths = [""]
    parts = path.split("/")[1:]
    for i, part in enumerate(parts):
        m = _PARAM.match(part)
        if m is None:
            paths = [f"{p}/{part}" for p in paths]
            continue
        name, suffix = m.group(1), m.group(3)
        if name == "id":
            collection = parts[i - 1]
            assert collection in ids, f"{path}: the crawl has no ids for {collection!r}"
            options = [str(x) for x in ids[collection]]
        else:
            assert name in values, f"{path}: the crawl has no values for {{{name}}}"
            options = values[name]
        paths = [f"{p}/{o}{suffix}" for p in paths for o in options]
    return paths


def poison(
    method: str, path: str, seeded: Seeded, ids: dict[str, list[int]], me: Caller
) -> list[Any]:
    """Bodies that try to write the canary into records the caller may see. Routes without
    an entry get an empty body: they are still called."""
    cid, ep = seeded.citizen, seeded.endpoint
    party = [{"citizen_id": cid, "role": "petitioner"}]
    newest_cases = sorted(ids["cases"])[-4:]
    table: dict[tuple[str, str], list[Any]] = {
        ("POST", "/api/v1/cases"): [
            {
                "kind": "complaint",
                "subject_area": "land",
                "title": "Khiếu nại kiểm thử",
                "handling_unit_id": seeded.unit,
                "parties": party,
            }
        ],
        ("PATCH", "/api/v1/cases/{id}"): [{"parties": party}],
        ("PATCH", "/api/v1/citizens/{id}"): [{"phone": "0900000001"}],
        ("POST", "/api/v1/cases/{id}/clearances"): [{"account_id": me.account_id}],
        # A duplicate check must not hint at the canary, by ID number or by name and address.
        ("POST", "/api/v1/citizens/duplicates"): [
            {"id_number": CANARY_ID_NUMBER},
            {"full_name": CANARY_NAME, "address": CANARY_ADDRESS},
        ],
        ("PATCH", "/api/v1/sessions/{id}"): [
            {"agenda": [{"case_id": c, "endpoint_id": ep, "citizen_ids": [cid]}]}
            for c in newest_cases
        ]
        + [{"agenda": [{"case_id": c, "endpoint_id": ep} for c in newest_cases]}],
    }
    return table.get((method, path), [{}])


async def _read(client: TestClient[Any, Any], me: Caller, method: str, url: str) -> Reply:
    """One call as `me`; an event stream is read up to its first event (it never ends)."""
    headers = {"Cookie": f"{COOKIE}={me.token}"}
    async with client.request(method, url, headers=headers, allow_redirects=False) as resp:
        if resp.content_type == "text/event-stream":
            chunks: list[bytes] = []
            async with asyncio.timeout(5):
                while b"\n\n" not in b"".join(chunks):
                    chunks.append(await resp.content.readany())
            text = b"".join(chunks).decode("utf-8", "replace")
        else:
            text = (await resp.read()).decode("utf-8", "replace")
        return Reply(resp.status, None, text, resp.headers)


def _header_text(headers: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


async def crawl_http(
    client: TestClient[Any, Any], me: Caller, seeded: Seeded, crawl: Crawl, write: bool
) -> None:
    routes = app_routes(client.app)
    token = await _calendar_token(me)
    values = {
        "date": [datetime.now(UTC).date().isoformat()],
        "token": [token] if token else ["0" * 40],
        "account_id": [str(me.account_id)],
        "copy_id": ["1"],
    }
    # A search must not find the canary either: by a lower-case part of the name (a hit
    # shows it capitalised) and by the exact ID number (a hit shows the name).
    queries = ("", "canarixq", CANARY_ID_NUMBER)

    async def reads() -> None:
        ids = await _ids(client)
        for method, path, _ in routes:
            if method != "GET":
                continue
            # Searches are of collections: a path with parameters is one object.
            for url in expand(path, ids, values):
                for q in queries if "{" not in path else ("",):
                    reply = await _read(client, me, "GET", f"{url}?q={q}" if q else url)
                    crawl.requests += 1
                    rid = reply.headers.get("X-Request-ID", "")
                    where = f"{me.username} GET {url}{'?q=' + q if q else ''} → {reply.status}"
                    crawl.check(where, reply.text, rid, echo=q)
                    crawl.check(where + " (headers)", _header_text(reply.headers), echo=q)

    await reads()
    if not write:
        return
    changed = False
    for method, path, _ in routes:
        if method in ("GET", "HEAD") or path in SELF_ENDING:
            continue
        ids = await _ids(client)
        for url in expand(path, ids, values):
            for body in poison(method, path, seeded, ids, me):
                if path.startswith("/api/"):
                    reply = await me.call(method, url, body)
                else:
                    reply = await me.call(method, url, data={"csrf_token": me.csrf, **body})
                crawl.requests += 1
                changed = changed or reply.status < 400
                where = f"{me.username} {method} {url} {body} → {reply.status}"
                crawl.check(where, reply.text)
                crawl.check(where + " (headers)", _header_text(reply.headers))
    if changed:  # read again what the writes may have changed
        await reads()


async def _calendar_token(me: Caller) -> str:
    reply = await me.get("/api/v1/calendar/link")
    if reply.status != 200 or not isinstance(reply.body, dict):
        return ""
    m = re.search(r"/calendar/([^/]+)\.ics", str(reply.body.get("url", "")))
    return m.group(1) if m else ""


# The room ------------------------------------------------------------------------------

# A plausible message of each type; a type the bridge adds later is still sent (with only its
# type), so the crawl cannot miss it.
SAMPLE_MESSAGES: dict[str, dict[str, Any]] = {
    "answer": {"sdp": "v=0\r\n"},
    "ice": {"candidate": None},
    "publish": {"source": "screen", "active": False},
    "mute": {"source": "microphone", "muted": True},
    "floor": {"participant_id": None},
    "pin": {"participant_id": "acct-1", "pinned": True},
    "recording": {"active": False},
    "agenda": {"action": "next"},
    "remove": {"participant_id": "acct-1"},
}


class Socket:
    """A WebSocket as one account, keeping every message it receives."""

    def __init__(self, ws: Any, who: str, crawl: Crawl) -> None:
        self.ws, self.who, self.crawl = ws, who, crawl
        self.seen: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)

    async def until(self, what: str, match: Any) -> dict[str, Any]:
        """Read until a message satisfies `match`; every message read is checked."""
        try:
            await self._until(match)
        except TimeoutError:
            raise AssertionError(
                f"{self.who}: no {what}; got {[m['type'] for m in self.seen]}"
            ) from None
        return self.seen[-1]

    async def _until(self, match: Any) -> None:
        async with asyncio.timeout(10):
            while True:
                msg = await self.ws.receive()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                    raise AssertionError(
                        f"{self.who}: socket closed; got {[m['type'] for m in self.seen]}"
                    )
                if msg.type is not WSMsgType.TEXT:
                    continue
                self.crawl.check(f"{self.who} room message", msg.data)
                data: dict[str, Any] = json.loads(msg.data)
                self.seen.append(data)
                if match(data):
                    return


async def _socket(client: TestClient[Any, Any], who: Caller, path: str, crawl: Crawl) -> Socket:
    ws = await client.session.ws_connect(
        client.make_url(path), headers={"Cookie": f"{COOKIE}={who.token}"}
    )
    return Socket(ws, who.username, crawl)


async def crawl_room(
    client: TestClient[Any, Any], me: Caller, chair: Caller, seeded: Seeded, crawl: Crawl
) -> None:
    """The uncleared account joins the live session's room (or is refused), the chair moves
    through the agenda (the canary is heard in each item), then every message type is sent."""
    room = f"/api/v1/sessions/{seeded.live_session}/bridge"
    try:
        mine = await _socket(client, me, room, crawl)
    except WSServerHandshakeError as exc:  # the session is not theirs to see: no socket
        assert exc.status in (403, 404), exc
        crawl.check(f"{me.username} room handshake", (await me.get(room)).text)
        return
    await mine.send({"type": "join"})
    first = await mine.until("joined or refused", lambda m: m["type"] in ("joined", "error"))
    joined = first["type"] == "joined"
    if joined:
        lead = await _socket(client, chair, room, Crawl())
        await lead.send({"type": "join"})
        hello = await lead.until("chair joined", lambda m: m["type"] == "joined")
        assert hello["participant_id"]
        async with client.app[DB]() as db:
            items = list(
                await db.scalars(
                    select(AgendaItem.id).where(AgendaItem.session_id == seeded.live_session)
                )
            )
        for item_id in items:
            await lead.send({"type": "agenda", "action": "goto", "item_id": item_id})
            await mine.until(
                f"agenda item {item_id} shown",
                lambda m, i=item_id: (
                    m["type"] == "agenda" and (m.get("item") or {}).get("item_id") == i
                ),
            )
        await lead.ws.close()
    for kind in sorted(CLIENT_MESSAGE_TYPES - {"join", "leave", "stats"}):
        await mine.send({"type": kind, **SAMPLE_MESSAGES.get(kind, {})})
    await mine.send({"type": "stats", "id": "last"})
    await mine.until(
        "the answer to the last message",
        lambda m: (m["type"] == "stats") or (m["type"] == "error" and m.get("id") == "last"),
    )
    await mine.ws.close()
    crawl.requests += len(CLIENT_MESSAGE_TYPES)


# The tests --------------------------------------------------------------------------------


@pytest.fixture
async def seeded(client: TestClient[Any, Any], clock: FakeClock) -> Seeded:
    return await seed_canary(client, clock.now)


def _report(crawl: Crawl) -> str:
    lines = [f"{len(crawl.leaks)} leaks over {crawl.requests} requests:"]
    seen: set[str] = set()
    for leak in crawl.leaks:
        key = leak.where.split(" → ")[0]
        if key in seen:
            continue
        seen.add(key)
        excerpt = " ".join(leak.excerpt.split())
        lines.append(f"  {leak.where}: {leak.needle!r} in …{excerpt}…")
    return "\n".join(lines[:80])


# Every role on SQLite; on PostgreSQL the roles that can write (the attack needs writes), so
# that the suite stays short: the decision is one set of queries, the same on both.
CRAWLS = [pytest.param("sqlite", u, id=f"sqlite-{u}") for u in UNCLEARED] + [
    pytest.param("postgres", u, id=f"postgres-{u}", marks=pytest.mark.postgres)
    for u in ("officer2", "leader2", "admin")
]


@pytest.mark.parametrize(("db_url", "username"), CRAWLS, indirect=["db_url"])
async def test_canary_never_reaches_an_uncleared_account(
    client: TestClient[Any, Any], seeded: Seeded, as_user: Login, username: str
) -> None:
    me = await as_user(username)
    chair = await as_user("chair")
    crawl = Crawl()
    await crawl_room(client, me, chair, seeded, crawl)
    await crawl_http(client, me, seeded, crawl, write=True)
    assert crawl.requests > 250, crawl.requests  # the crawl reached the route table
    if crawl.leaks:
        pytest.fail(_report(crawl), pytrace=False)


async def test_a_cleared_account_sees_it_only_on_asking_and_each_reveal_is_audited(
    client: TestClient[Any, Any], seeded: Seeded, as_user: Login
) -> None:
    """The cleared officer: no page or API answer shows the canary on arrival; every reveal
    route (a POST ending in /reveal, read from the router) shows it when asked with a reason,
    and each answer that does wrote an identity.view record under its request id."""
    me = await as_user(CLEARED)
    arrival = Crawl()
    await crawl_http(client, me, seeded, arrival, write=False)
    if arrival.leaks:
        pytest.fail("shown on arrival to a cleared account:\n" + _report(arrival), pytrace=False)
    asked = Crawl()
    ids = await _ids(client)
    reveals = [p for m, p, _ in app_routes(client.app) if m == "POST" and p.endswith("/reveal")]
    assert reveals, "no reveal route: how does a cleared account ever see an identity?"
    reason = "Chuẩn bị buổi tiếp (kiểm thử)"
    for path in reveals:
        for url in expand(path, ids, {}):
            if path.startswith("/api/"):
                reply = await me.call("POST", url, {"reason": reason})
            else:
                reply = await me.call("POST", url, data={"csrf_token": me.csrf, "reason": reason})
            asked.requests += 1
            rid = reply.headers.get("X-Request-ID", "")
            asked.check(f"{me.username} POST {url} → {reply.status}", reply.text, rid)
    assert asked.shown, "revealing should show the canary somewhere"
    async with client.app[DB]() as db:
        records = list(
            await db.scalars(select(AuditRecord).where(AuditRecord.action == "identity.view"))
        )
    audited = {r.request_id for r in records if r.detail.get("reason") == reason}
    unaudited = sorted({where for where, rid in asked.shown if rid not in audited})
    assert not unaudited, "shown without an identity.view record:\n" + "\n".join(unaudited)
