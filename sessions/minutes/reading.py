"""The minutes as one reader may read them: who was heard, by name or withheld.

The facts name citizens by id; here each item's citizens are decided by
`sessions.identity` in the context of the item's case, the same decision every other surface
asks: a protected identity is shown to a cleared account only when it asks, with a reason
(`reveal`, audited). For a protected case (a denunciation) the item's typed parts (what the
denouncer presented, the documents, the conclusions) are the case's material: shown to
accounts cleared for the case only (`identity.may_see_case_material`), as its documents are."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import identity
from sessions.audit import AuditContext
from sessions.models import CaseFile, Citizen, Minutes

SURFACE = "minutes"


@dataclass(frozen=True, slots=True)
class ItemReading:
    people: tuple[Citizen | None, ...]  # the item's citizens in order; None: withheld
    secret: bool  # a protected case's material, hidden from this reader
    revealable: bool  # the reader may see it by asking, with a reason


@dataclass(frozen=True, slots=True)
class Reading:
    items: dict[int, ItemReading]  # by agenda item id
    revealed: bool

    @property
    def revealable(self) -> bool:
        return any(i.revealable for i in self.items.values())

    @property
    def withheld(self) -> bool:
        return any(i.secret or None in i.people for i in self.items.values())


async def _item(
    db: AsyncSession, ctx: AuditContext, case_id: int, ids: list[int], reveal: str | None
) -> ItemReading:
    case = await db.get(CaseFile, case_id)
    protected = case is None or identity.is_protected_case(case)
    cleared = False
    if case is not None and ctx.principal is not None:
        cleared = await identity.may_see_case_material(db, ctx.principal, case)
    decision = await identity.disclose(
        db, ctx, ids, surface=SURFACE, case_id=case_id, reveal=reveal
    )
    rows = {
        c.id: c for c in await db.scalars(select(Citizen).where(Citizen.id.in_(decision.shown)))
    }
    secret = protected and not cleared
    revealable = bool(decision.revealable)
    return ItemReading(tuple(rows.get(i) for i in ids), secret, revealable)


async def read(
    db: AsyncSession, ctx: AuditContext, m: Minutes, reveal: str | None = None
) -> Reading:
    """Decide every item of `m` for the account of `ctx`; a reveal is audited (the caller
    commits `db`)."""
    if reveal is not None:
        reveal = identity.check_reason(reveal)
    items = {}
    for item in m.facts.get("items", []):
        ids = [int(i) for i in item.get("citizen_ids", [])]
        items[int(item["id"])] = await _item(db, ctx, int(item["case_id"]), ids, reveal)
    return Reading(items, reveal is not None)
