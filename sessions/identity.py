"""Whether an account may see a citizen's identity: the one decision every surface asks.

A denouncer's name, address and anything else that could reveal them are secret (Law on
Denunciation 2018, art. 9 and 56). The protection follows the person, not the page:

- a *protected citizen* is a party to any case of a protected kind (a denunciation, or a
  petition with several kinds of content, which may carry one), wherever else they appear;
- a protected citizen is shown to an account cleared for every protected case they are a
  party to; or, where the context is one protected case, to an account cleared for that case
  (handling that very denunciation is its job);
- an audience of more than one account (a room, a broadcast) has no clearance: withheld;
- an account that may not see a protected citizen may not refer to them either: their id is
  unknown to it, as another unit's data is (`referable`, `hidden_from`);
- even to a cleared account a protected identity is not shown on arrival: it is withheld and
  *revealable*; the account reveals it by asking, with a reason (`disclose(reveal=...)`), and
  each reveal writes one `identity.view` audit record per citizen and request, the reason in
  it. There is no way to learn a protected identity from this module without that record.

Nothing else in the code decides this: pages, API, room messages, exports and recordings ask
here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.access import Principal
from sessions.errors import Invalid
from sessions.models import (
    AgendaCitizen,
    AgendaItem,
    AuditRecord,
    CaseClearance,
    CaseFile,
    CaseKind,
    CaseParty,
    Citizen,
    CitizenRole,
)
from sessions.text import nfc

# A petition with several kinds of content may carry a denunciation, so it is protected too:
# over-protecting costs a clearance; under-protecting discloses a secret.
PROTECTED_KINDS = frozenset({CaseKind.DENUNCIATION, CaseKind.MIXED})

VIEW_ACTION = "identity.view"


def is_protected_case(case: CaseFile) -> bool:
    return case.kind in PROTECTED_KINDS


def protected_citizens() -> Select[Any]:
    """Ids of every protected citizen: a party to a case of a protected kind."""
    return (
        select(CaseParty.citizen_id)
        .join(CaseFile, CaseFile.id == CaseParty.case_id)
        .where(CaseFile.kind.in_(PROTECTED_KINDS))
    )


def hidden_from(p: Principal | None) -> Select[Any]:
    """Ids of the citizens `p` may neither see nor refer to outside the context of a case it
    is cleared for: parties to a protected case `p` is not cleared for (all of them when
    `p` is None, an audience of several)."""
    stmt = protected_citizens()
    if p is None:
        return stmt
    cleared = select(CaseClearance.case_id).where(CaseClearance.account_id == p.account_id)
    return stmt.where(CaseParty.case_id.not_in(cleared))


@dataclass(frozen=True, slots=True)
class Disclosure:
    """The decision for some citizens: which are shown; which of those are protected (each
    such view is audited); which are withheld but the account may reveal by asking."""

    shown: frozenset[int]
    protected: frozenset[int]
    revealable: frozenset[int] = frozenset()

    def visible(self, citizen_id: int) -> bool:
        return citizen_id in self.shown


REASON_MIN, REASON_MAX = 5, 500


def check_reason(reason: str) -> str:
    """Why a protected identity is revealed: said in words, kept in the audit record."""
    reason = nfc(reason).strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise Invalid(
            "Hãy nêu lý do xem danh tính được bảo mật.",
            {"reason": f"từ {REASON_MIN} đến {REASON_MAX} ký tự"},
        )
    return reason


async def _decide(
    db: AsyncSession, p: Principal | None, citizen_ids: Iterable[int], case_id: int | None
) -> Disclosure:
    ids = set(citizen_ids)
    if not ids:
        return Disclosure(frozenset(), frozenset())
    rows = await db.execute(
        protected_citizens().add_columns(CaseParty.case_id).where(CaseParty.citizen_id.in_(ids))
    )
    cases_of: dict[int, set[int]] = {}
    for cid, case in rows:
        cases_of.setdefault(cid, set()).add(case)
    cleared: set[int] = set()
    if p is not None and cases_of:
        every = set().union(*cases_of.values())
        cleared = set(
            await db.scalars(
                select(CaseClearance.case_id).where(
                    CaseClearance.account_id == p.account_id, CaseClearance.case_id.in_(every)
                )
            )
        )
    shown = {cid for cid in ids if cid not in cases_of}
    protected = set()
    for cid, cases in cases_of.items():
        if p is not None and (cases <= cleared or (case_id in cases and case_id in cleared)):
            shown.add(cid)
            protected.add(cid)
    return Disclosure(frozenset(shown), frozenset(protected))


async def referable(
    db: AsyncSession, p: Principal, citizen_ids: Iterable[int], case_id: int | None = None
) -> frozenset[int]:
    """Which of these ids `p` may refer to (add to a case, to an agenda): those it may see.
    Referring shows nothing, so nothing is audited."""
    return (await _decide(db, p, citizen_ids, case_id)).shown


async def disclose(
    db: AsyncSession,
    ctx: audit.AuditContext | None,
    citizen_ids: Iterable[int],
    *,
    surface: str,
    case_id: int | None = None,
    reveal: str | None = None,
) -> Disclosure:
    """Decide for the account of `ctx` (None: an audience of several, such as a room). A
    protected identity the account may see is shown only when it reveals it (`reveal`: its
    reason, checked by `check_reason`), and then audited once per citizen and request; the
    caller must commit `db`. Without `reveal` it is withheld and listed as revealable."""
    p = ctx.principal if ctx is not None else None
    decision = await _decide(db, p, citizen_ids, case_id)
    if reveal is None or ctx is None:
        return Disclosure(decision.shown - decision.protected, frozenset(), decision.protected)
    if decision.protected:
        await _audit(db, ctx, decision.protected, surface, case_id, check_reason(reveal))
    return decision


async def _audit(
    db: AsyncSession,
    ctx: audit.AuditContext,
    citizen_ids: frozenset[int],
    surface: str,
    case_id: int | None,
    reason: str,
) -> None:
    done: set[str] = set()
    if ctx.request_id:  # one record per citizen and request, however many parts show it
        done = set(
            await db.scalars(
                select(AuditRecord.object_id).where(
                    AuditRecord.request_id == ctx.request_id,
                    AuditRecord.action == VIEW_ACTION,
                    AuditRecord.object_type == "citizen",
                )
            )
        )
    rows = await db.execute(select(Citizen.id, Citizen.unit_id).where(Citizen.id.in_(citizen_ids)))
    units = {cid: unit for cid, unit in rows}
    detail: dict[str, object] = {"surface": surface, "reason": reason}
    if case_id is not None:
        detail["case_id"] = case_id
    for cid in sorted(citizen_ids):
        if str(cid) not in done:
            await audit.record(db, ctx, VIEW_ACTION, "citizen", cid, units.get(cid), detail)


async def identities(
    db: AsyncSession,
    ctx: audit.AuditContext | None,
    citizen_ids: Iterable[int],
    *,
    surface: str,
    case_id: int | None = None,
    reveal: str | None = None,
) -> dict[int, Citizen | None]:
    """The citizens by id, as the account of `ctx` may see them: None when withheld."""
    ids = list(dict.fromkeys(citizen_ids))
    decision = await disclose(db, ctx, ids, surface=surface, case_id=case_id, reveal=reveal)
    rows = {
        c.id: c for c in await db.scalars(select(Citizen).where(Citizen.id.in_(decision.shown)))
    }
    return {cid: rows.get(cid) for cid in ids}


# Recordings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Restriction:
    """Whether an account may replay or download a session's recordings, and the cases whose
    segments show a protected citizen's face and voice (named in the audit)."""

    allowed: bool
    cases: tuple[int, ...]


async def replay_restriction(
    db: AsyncSession, p: Principal | None, session_id: int, case_id: int | None = None
) -> Restriction:
    """A segment shows whoever was heard in it, and for a protected case the denouncer even
    when not listed: a recording (or the part of it for `case_id`) is restricted unless `p`
    is cleared for each protected case heard and may see every citizen heard in each."""
    stmt = (
        select(AgendaItem.id, CaseFile.id, CaseFile.kind)
        .join(CaseFile, CaseFile.id == AgendaItem.case_id)
        .where(AgendaItem.session_id == session_id)
    )
    if case_id is not None:
        stmt = stmt.where(AgendaItem.case_id == case_id)
    items = list(await db.execute(stmt))
    heard: dict[int, set[int]] = {}
    for item_id, cid in await db.execute(
        select(AgendaCitizen.agenda_item_id, AgendaCitizen.citizen_id).where(
            AgendaCitizen.agenda_item_id.in_([i for i, _, _ in items])
        )
    ):
        heard.setdefault(item_id, set()).add(cid)
    restricted: set[int] = set()
    allowed = True
    for item_id, case, kind in items:
        parties: set[int] = set()
        if kind in PROTECTED_KINDS:
            parties = set(
                await db.scalars(select(CaseParty.citizen_id).where(CaseParty.case_id == case))
            )
        people = heard.get(item_id, set()) | parties
        decision = await _decide(db, p, people, case)
        secret = decision.protected | (people - decision.shown)
        if kind in PROTECTED_KINDS or secret:
            restricted.add(case)
            if kind in PROTECTED_KINDS and not await _cleared_for(db, p, case):
                allowed = False
            if people - decision.shown:
                allowed = False
    return Restriction(allowed, tuple(sorted(restricted)))


async def _cleared_for(db: AsyncSession, p: Principal | None, case_id: int) -> bool:
    if p is None:
        return False
    return await db.get(CaseClearance, (case_id, p.account_id)) is not None


# Material of a case -----------------------------------------------------------------------


async def may_see_case_material(db: AsyncSession, p: Principal, case: CaseFile) -> bool:
    """Whether `p` may read what a case holds beyond its parties' names (the documents a
    citizen handed in: a denouncer's handwriting, their name on the page): for a protected
    case, only an account cleared for it."""
    return not is_protected_case(case) or await _cleared_for(db, p, case.id)


# A citizen's copy of their own reception ---------------------------------------------------


async def copy_hazards(
    db: AsyncSession, session_id: int, case_id: int, requester_id: int
) -> list[str]:
    """What a copy of the recording of one case's hearing in a session, handed to one of its
    citizens, would reveal to that citizen that they may not learn (DOMAIN: a denouncer's
    identity, another citizen's denunciation). Empty when the system sees nothing; staff
    still watch the copy before handing it over. Never names anyone."""
    case = await db.get(CaseFile, case_id)
    if case is None:
        return ["Không tìm thấy hồ sơ."]
    heard = set(
        await db.scalars(
            select(AgendaCitizen.citizen_id)
            .join(AgendaItem, AgendaItem.id == AgendaCitizen.agenda_item_id)
            .where(AgendaItem.session_id == session_id, AgendaItem.case_id == case_id)
        )
    )
    parties = dict(
        (cid, role)
        for cid, role in await db.execute(
            select(CaseParty.citizen_id, CaseParty.role).where(CaseParty.case_id == case_id)
        )
    )
    people = heard | (set(parties) if is_protected_case(case) else set())
    others = people - {requester_id}
    hazards: list[str] = []
    if others:
        secret = set(await db.scalars(protected_citizens().where(CaseParty.citizen_id.in_(others))))
        # The person denounced is no secret to their denouncer, unless protected elsewhere.
        accused = {cid for cid, role in parties.items() if role is CitizenRole.DENOUNCED}
        elsewhere = set(
            await db.scalars(
                protected_citizens().where(
                    CaseParty.citizen_id.in_(accused), CaseParty.case_id != case_id
                )
            )
        )
        secret -= accused - elsewhere
        if secret:
            hazards.append(
                f"Đoạn ghi có {len(secret)} người khác được giữ bí mật danh tính (người tố cáo"
                " hoặc người có mặt trong vụ việc tố cáo): không giao bản sao."
            )
    if is_protected_case(case) and parties.get(requester_id) is CitizenRole.DENOUNCED:
        hazards.append(
            "Người yêu cầu là người bị tố cáo trong vụ việc: bản sao buổi tiếp làm lộ người tố cáo."
        )
    return hazards
