"""Installing from the marketplace: verified before any write, the visibility rules, counting.

Every refusal leaves the organization without the plugin (no row, nothing on the hook bus) and
the install counters untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.marketplace import (
    MarketplaceDownload,
    MarketplaceListing,
    MarketplaceVersion,
    VersionStatus,
)
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.packages.platform_key import PlatformKey
from tests.fixtures.app import TestUser, create_test_user, new_signing_pem
from tests.marketplace.market_seed import counter_manifest, developer, publish
from tests.plugins.builders import build_ppx

PID = "acme.mcounter"


async def market_install(api: httpx.AsyncClient, user: TestUser, plugin_id: str = PID,
                         **fields: Any) -> httpx.Response:
    return await api.post("/api/plugins/install", headers=user.headers,
                          json={"source": "marketplace", "pluginId": plugin_id, **fields})


async def seed(platform: FastAPI, admin: TestUser, ppx_dir: Path, *versions: str,
               **kwargs: Any) -> list[str]:
    dev = await developer(platform, admin.principal.user_id, "acme")
    return [await publish(platform, ppx_dir, counter_manifest(PID, v), developer_id=dev,
                          **kwargs) for v in versions]


async def installed_rows(platform: FastAPI) -> list[Plugin]:
    async with session_scope(platform.state.session_factory) as session:
        return list((await session.execute(select(Plugin).where(Plugin.plugin_id == PID)))
                    .scalars())


async def counters(platform: FastAPI) -> tuple[int, dict[str, int]]:
    async with session_scope(platform.state.session_factory) as session:
        total = (await session.execute(select(MarketplaceListing.installs_total).where(
            MarketplaceListing.plugin_id == PID))).scalar_one()
        days = (await session.execute(select(MarketplaceDownload))).scalars().all()
        return total, {d.version: d.installs for d in days}


async def test_install_latest_visible_version_counts_it_and_runs(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0", "1.1.0")
    await seed(platform, admin, ppx_dir, "1.2.0", yanked=True)
    await seed(platform, admin, ppx_dir, "2.0.0", status=VersionStatus.in_review)

    r = await market_install(api, admin)

    assert r.status_code == 201, r.text
    assert r.json()["plugin"]["version"] == "1.1.0"
    assert await counters(platform) == (1, {"1.1.0": 1})
    assert (await api.post(f"/api/plugins/{PID}/load", headers=admin.headers)).status_code == 200
    call = await api.post("/api/plugins/hooks/custom:mcount", headers=admin.headers, json={})
    assert call.json()["results"][0]["result"] == {"version": "1.1.0"}


async def test_a_yanked_version_installs_only_by_its_exact_version(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0", yanked=True)

    assert (await market_install(api, admin)).status_code == 404
    r = await market_install(api, admin, version="1.0.0")

    assert r.status_code == 201, r.text
    assert any("yanked" in w["message"] for w in r.json()["warnings"])


async def test_an_in_review_version_never_installs(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0", status=VersionStatus.in_review)

    r = await market_install(api, admin, version="1.0.0")

    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["rule"] == "in-review"
    assert await installed_rows(platform) == []


async def test_a_suspended_listing_never_installs(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0")
    async with session_scope(platform.state.session_factory) as session:
        await session.execute(update(MarketplaceListing).values(
            status="suspended", status_reason="malware reported"))

    for body in ({}, {"version": "1.0.0"}):
        r = await market_install(api, admin, **body)
        assert r.status_code == 409, r.text
        assert "malware reported" in r.json()["detail"]
        assert r.json()["errors"][0] == {"field": "pluginId", "message":
                                         "suspended: malware reported", "rule": "suspended",
                                         "value": PID}
    assert await installed_rows(platform) == []


@pytest.mark.parametrize(("plugin_id", "version", "field"), [
    ("acme.nothere", None, "pluginId"), (PID, "9.9.9", "version")])
async def test_unknown_plugin_or_version_is_a_404(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI,
    plugin_id: str, version: str | None, field: str,
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0")

    r = await market_install(api, admin, plugin_id, **({"version": version} if version else {}))

    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["field"] == field


async def test_a_tampered_blob_is_refused_and_nothing_installed(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    [sha] = await seed(platform, admin, ppx_dir, "1.0.0")
    # Another real package written over the stored blob file: valid zip, wrong bytes.
    evil = build_ppx(ppx_dir, counter_manifest(PID, "1.0.0", description="evil"), "x = 1\n")
    blob = platform.state.blob_store._path(sha)
    blob.write_bytes(evil.read_bytes())

    r = await market_install(api, admin)

    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"].endswith("/artifact-unverified")
    assert problem["errors"][0]["rule"] == "sha256"
    assert await installed_rows(platform) == []
    assert await counters(platform) == (0, {})


async def test_a_row_signed_by_another_key_is_refused(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    other = PlatformKey(new_signing_pem().encode())
    await seed(platform, admin, ppx_dir, "1.0.0", signer=other)

    r = await market_install(api, admin)

    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["rule"] == "signature"
    assert await installed_rows(platform) == []


async def test_a_row_pointing_at_another_plugins_signed_artifact_installs_nothing(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    dev = await developer(platform, admin.principal.user_id, "acme")
    other_sha = await publish(platform, ppx_dir, counter_manifest("acme.other", "1.0.0"),
                              developer_id=dev)
    await seed(platform, admin, ppx_dir, "1.0.0")
    key: PlatformKey = platform.state.platform_key
    async with session_scope(platform.state.session_factory) as session:
        listing_id = (await session.execute(select(MarketplaceListing.id).where(
            MarketplaceListing.plugin_id == PID))).scalar_one()
        # Digest and signature are genuine, but of acme.other's package.
        await session.execute(update(MarketplaceVersion)
                              .where(MarketplaceVersion.listing_id == listing_id)
                              .values(artifact_sha256=other_sha,
                                      signature=key.sign_artifact(other_sha)))

    r = await market_install(api, admin)

    assert r.status_code == 422, r.text
    assert r.json()["errors"][0] == {"field": "id", "message": f"must be {PID!r}",
                                     "rule": "artifact-mismatch", "value": "acme.other"}
    assert await installed_rows(platform) == []


async def test_a_free_tier_org_is_refused_like_uploads(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0")
    free = await create_test_user(platform, tier="free", role="admin")

    r = await market_install(api, free)

    assert r.status_code == 403, r.text
    assert await installed_rows(platform) == []


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"source": "upload", "pluginId": PID}, "source", "literal_error"),
    ({"source": "marketplace"}, "pluginId", "missing"),
    ({"source": "marketplace", "pluginId": "../etc"}, "pluginId", "string_pattern_mismatch"),
    ({"source": "marketplace", "pluginId": PID, "version": "1.0.0/../x"}, "version",
     "string_pattern_mismatch"),
    ({"source": "marketplace", "pluginId": PID, "extra": 1}, "extra", "extra_forbidden"),
    ([1, 2], "body", "model_attributes_type"),
])
async def test_a_malformed_body_is_a_422_naming_the_field(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, body: Any, field: str, rule: str
) -> None:
    r = await api.post("/api/plugins/install", headers=admin.headers, json=body)

    assert r.status_code == 422, r.text
    assert (r.json()["errors"][0]["field"], r.json()["errors"][0]["rule"]) == (field, rule)


async def test_a_body_that_is_not_json_is_a_422(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI
) -> None:
    r = await api.post("/api/plugins/install", headers={**admin.headers,
                       "content-type": "application/json"}, content=b"{nope")

    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["rule"] in ("json", "json_invalid")
