"""The OpenAPI description is true: every /api/v1 route of the router is described (method
and path), every described route exists, and each says the permission its handler enforces."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from web.openapi import OPERATIONS, router_permissions

METHODS = {"get", "post", "put", "patch", "delete"}


def _described(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


async def test_every_route_is_described_and_every_description_routed(
    client: TestClient[Any, Any],
) -> None:
    async with client.get("/api/v1/openapi.json") as resp:  # public: no sign-in
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    routed = set(router_permissions(client.app))
    described = _described(doc)
    assert not routed - described, f"add an Op(...) to web/openapi.py: {sorted(routed - described)}"
    assert not described - routed, f"described but not routed: {sorted(described - routed)}"
    assert len(OPERATIONS) == len(described), "an operation is described twice"


async def test_each_operation_says_the_permission_of_its_handler(
    client: TestClient[Any, Any],
) -> None:
    async with client.get("/api/v1/openapi.json") as resp:
        doc = await resp.json()
    for (method, path), perm in router_permissions(client.app).items():
        op = doc["paths"][path][method.lower()]
        want = perm if isinstance(perm, str) else (perm.value if perm else "signed-in")
        assert op["x-permission"] == want, (method, path)
        assert (op.get("security") == []) == (perm == "public"), (method, path)
        assert op["summary"] and not op["summary"].isascii(), (method, path)
        for param in op["parameters"]:
            assert "{" + param["name"] + "}" in path


async def test_the_description_is_valid_openapi_3_1(client: TestClient[Any, Any]) -> None:
    from openapi_spec_validator import validate

    async with client.get("/api/v1/openapi.json") as resp:
        doc = await resp.json()
    validate(doc)
