"""The JSON API under /api/v1."""

from __future__ import annotations

from aiohttp import web

from web.api import auth, cases, directory, minutes, receptions, schedule


def setup(app: web.Application) -> None:
    for module in (auth, directory, cases, receptions, schedule, minutes):
        module.setup(app)
