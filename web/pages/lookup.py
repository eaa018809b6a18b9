"""Names for the ids a page shows (units, endpoints, accounts), a query per kind.

The store's list functions answer with ids; a page needs the names beside them. These read
only names of rows the page already lists, so they add no data the caller could not see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import units
from sessions.access import Principal
from sessions.models import Account, CaseFile, Citizen, Endpoint, ReceptionSession, Unit
from sessions.paging import MAX_PER_PAGE, PageRequest


async def _names(
    db: AsyncSession, id_col: Any, name_col: Any, ids: Iterable[int | None]
) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db.execute(select(id_col, name_col).where(id_col.in_(wanted)))
    return {int(i): str(n) for i, n in rows}


async def unit_names(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    return await _names(db, Unit.id, Unit.name, ids)


async def endpoint_names(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    return await _names(db, Endpoint.id, Endpoint.name, ids)


async def account_names(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    return await _names(db, Account.id, Account.full_name, ids)


async def session_titles(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    return await _names(db, ReceptionSession.id, ReceptionSession.title, ids)


async def citizen_names(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    return await _names(db, Citizen.id, Citizen.full_name, ids)


async def cases_by_id(db: AsyncSession, ids: Iterable[int]) -> dict[int, CaseFile]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await db.scalars(select(CaseFile).where(CaseFile.id.in_(wanted)))
    return {c.id: c for c in rows}


async def unit_choices(db: AsyncSession, p: Principal) -> list[tuple[int, str]]:
    """The units a form may name, in tree order, indented by depth."""
    page = await units.list_units(db, p, PageRequest(per_page=MAX_PER_PAGE))
    top = p.unit_path.count("/")
    return [(u.id, "— " * (u.path.count("/") - top) + u.name) for u in page.items]


async def endpoint_choices(db: AsyncSession, p: Principal) -> list[tuple[int, str]]:
    page = await units.list_endpoints(db, p, PageRequest(per_page=MAX_PER_PAGE))
    return [(e.id, e.name) for e in page.items]


async def level_names(db: AsyncSession) -> dict[str, str]:
    return {lv.code: lv.name for lv in await units.list_levels(db)}
