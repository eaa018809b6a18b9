"""Server-rendered pages (jinja2, autoescaped, Vietnamese).

`setup`, `context`, `setup_filters` and `render_error` are what the composition root and the
error middleware use; each page module adds its own routes."""

from __future__ import annotations

from aiohttp import web

from web.pages import (
    admin_accounts,
    admin_units,
    auditlog,
    calendar,
    casefiles,
    intake,
    readiness,
    receptions,
    shell,
)
from web.pages.shell import context, render_error, setup_filters

__all__ = ["context", "render_error", "setup", "setup_filters"]


def setup(app: web.Application) -> None:
    for module in (shell, receptions, intake, casefiles, admin_units, admin_accounts, auditlog):
        module.setup(app)
    readiness.setup(app)
    calendar.setup(app)
