"""Paged, searchable listing shared by every store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PER_PAGE = 200
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    per_page: int = 50
    q: str = ""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


async def paginate(db: AsyncSession, stmt: Select[T], req: PageRequest) -> Page[T]:
    total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    offset = (req.page - 1) * req.per_page
    rows = await db.scalars(stmt.limit(req.per_page).offset(offset))
    return Page(list(rows), int(total or 0), req.page, req.per_page)


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(column: Any, key: str) -> Any:
    """column LIKE %key% with wildcards escaped (keys are already diacritic-free)."""
    return column.like(f"%{escape_like(key)}%", escape="\\")
