from typing import Any

from aiohttp.test_utils import TestClient

from tests.support import login


async def test_healthz_and_login(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "database": "ok"}
    csrf = await login(client, "officer")
    resp = await client.get("/api/v1/units")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["total"] == 6
    resp = await client.post(
        "/api/v1/citizens",
        json={"full_name": "Nguyễn Văn Bình", "unit_id": 1},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 201, await resp.json()
