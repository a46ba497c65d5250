"""Shared steps of the developer tests: register a developer over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.app import MakeUser


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], namespace: str,
    display_name: str = "Acme Photo Tools",
) -> httpx.Response:
    return await client.post("/api/developers/register", headers=headers,
                             json={"namespace": namespace, "displayName": display_name})


async def new_developer(
    client: httpx.AsyncClient, make_user: MakeUser, namespace: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """A user registered as a developer: (bearer headers, the 201 body)."""
    _, headers = await make_user(tier="free")
    response = await register(client, headers, namespace)
    assert response.status_code == 201, response.text
    return headers, response.json()


def namespace_rules(response: httpx.Response) -> list[str]:
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["rule"] for e in body["errors"] if e["field"] == "namespace"]
