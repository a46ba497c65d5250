"""The marketplace journey of issues #13 and #14 in one test, through the real pipeline:

a verified developer submits; the job scans and publishes; the listing is found by search and
facets and appears in the featured list; the download verifies against the marketplace's public
key; three enterprise organizations install it from the marketplace and call it; version 2 asks
for a new permission and host, goes to review and is approved; ``/api/plugins/updates`` shows
the diff and the update installs with consent; a user reviews it; downloads, installs and calls
appear on the developer's dashboard and in the admin's analytics. SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from fastapi import FastAPI

from proofpix_plugins.packages.signing import verify_digest
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.publishing.conftest import MakeDeveloper, settled, submit
from tests.marketplace.publishing.test_publishing import admin_headers, package, publish_ok

PLUGIN = "acme.journey"
MARKET = "/api/plugins/marketplace"


async def _install(api: httpx.AsyncClient, user: TestUser, version: str | None = None,
                   grant: list[str] | None = None) -> httpx.Response:
    body: dict[str, object] = {"source": "marketplace", "pluginId": PLUGIN}
    if version:
        body["version"] = version
    if grant is not None:
        body["grantPermissions"] = grant
    return await api.post("/api/plugins/install", headers=user.headers, json=body)


async def test_publish_find_download_install_update_review_and_measure(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer("acme", verified=True)
    v1 = package(ppx_dir, dev, "1.0.0", name="journey", permissions=["files"],
                 description="Journey reader of photo metadata", tags=["exif", "journey"])
    await publish_ok(api, dev, v1, notes="First release.")

    # Found by search, with facets; featured; the listing shows the version.
    r = await api.get(f"{MARKET}/search", params={"q": "journey"})
    assert r.status_code == 200, r.text
    found = r.json()
    assert [i["pluginId"] for i in found["items"]] == [PLUGIN]
    assert found["facets"]["category"] == {"metadata": 1}
    assert found["facets"]["permission"] == {"files": 1}
    r = await api.get(f"{MARKET}/search", params={"q": "journey", "permission": "http"})
    assert r.json()["total"] == 0
    featured = (await api.get(f"{MARKET}/featured")).json()
    assert PLUGIN in [i["pluginId"] for i in featured["items"]]
    listing = (await api.get(f"{MARKET}/{PLUGIN}")).json()
    assert [v["version"] for v in listing["versions"]] == ["1.0.0"]

    # The download verifies against the marketplace's public key.
    download = await api.get(f"{MARKET}/{PLUGIN}/download")
    assert download.status_code == 200, download.text
    digest = hashlib.sha256(download.content).hexdigest()
    assert download.headers["x-checksum-sha256"] == digest
    pem = (await api.get(f"{MARKET}/public-key")).json()["publicKeyPem"]
    assert verify_digest(digest, download.headers["x-signature"], pem.encode())

    # Three enterprise organizations install it from the marketplace and call it.
    orgs = [await create_test_user(mp, tier="enterprise", role="admin") for _ in range(3)]
    for user in orgs:
        r = await _install(api, user)
        assert r.status_code == 201, r.text
        assert (await api.post(f"/api/plugins/{PLUGIN}/load", headers=user.headers)
                ).status_code == 200
        r = await api.post("/api/plugins/hooks/file:uploaded", headers=user.headers,
                           json={"data": {"fileId": "f1"}})
        assert r.status_code == 200, r.text
        assert [x["status"] for x in r.json()["results"]] == ["ok"], r.json()

    # Version 2 asks for http and a host: review, then an admin approves it.
    v2 = package(ppx_dir, dev, "2.0.0", name="journey", permissions=["files", "http"],
                 network={"allow": ["api.journey.example"]},
                 description="Journey reader of photo metadata", tags=["exif", "journey"])
    r = await submit(api, dev, v2, notes="Now posts results.")
    assert r.status_code == 202, r.text
    review = await settled(api, dev, r.json()["id"])
    assert review["status"] == "in_review", review
    staff = await admin_headers(mp)
    r = await api.post(f"/api/admin/submissions/{review['id']}/approve", headers=staff,
                       json={"reason": "the new host is the developer's own API"})
    assert r.status_code == 200, r.text

    # The update, its permission diff, and consent.
    first = orgs[0]
    r = await api.get("/api/plugins/updates", headers=first.headers)
    assert r.status_code == 200, r.text
    [update] = r.json()["items"]
    assert (update["installedVersion"], update["latestVersion"]) == ("1.0.0", "2.0.0")
    assert "http" in update["permissionDiff"]["addedPermissions"], update
    assert update["needsConsent"] is True
    r = await _install(api, first, "2.0.0", grant=["files", "http"])
    assert r.status_code in (200, 201), r.text
    r = await api.get(f"/api/plugins/{PLUGIN}", headers=first.headers)
    assert r.json()["version"] == "2.0.0"
    assert (await api.get("/api/plugins/updates", headers=first.headers)).json()["items"] == []

    # A review by a user of an installing organization.
    r = await api.post(f"{MARKET}/{PLUGIN}/reviews", headers=first.headers,
                       json={"rating": 5, "text": "Does what it says."})
    assert r.status_code == 201, r.text
    listing = (await api.get(f"{MARKET}/{PLUGIN}")).json()
    assert listing["ratings"]["count"] == 1
    assert listing["ratings"]["average"] == 5.0

    # Downloads, installs and calls on the developer's dashboard and in the admin's analytics.
    await mp.state.discovery_counters.flush()
    await mp.state.plugin_service.flush_metrics()
    r = await api.get("/api/developers/dashboard", headers=dev.headers)
    assert r.status_code == 200, r.text
    [mine] = r.json()["plugins"]
    assert mine["pluginId"] == PLUGIN
    assert mine["activeInstalls"] == 3
    assert mine["installsTotal"] == 4
    downloads = sum(d["downloads"] for v in mine["versions"] for d in v["daily"])
    assert downloads >= 1
    [day] = mine["usage"]
    assert day["suppressed"] is False, day
    assert day["calls"] == 3, day
    r = await api.get("/api/admin/analytics", headers=staff)
    assert r.status_code == 200, r.text
    body = r.json()
    assert sum(d["installs"] for d in body["daily"]) == 4
    assert {"term": "journey", "count": 2} in body["searchTerms"]
    assert body["submissions"]["byStatus"]["published"] == 2
