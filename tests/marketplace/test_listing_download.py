"""GET /api/plugins/marketplace/{id} and /{id}/download: versions, ratings, integrity, rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from proofpix_plugins.models.marketplace import ListingStatus, VersionStatus
from proofpix_plugins.packages.signing import verify_digest
from tests.marketplace.listing_seed import Seeder

BASE = "/api/plugins/marketplace"


async def test_listing_shows_publisher_versions_ratings_and_totals(
    client: httpx.AsyncClient, seed: Seeder,
) -> None:
    lid = await seed.listing("acme.exif-cleaner", name="EXIF Cleaner", verified=True,
                             versions=("1.0.0", "1.10.0", "1.2.0"), platform_range=">=0.0.1",
                             downloads=42, rating_avg=4.0, rating_count=3)
    await seed.version(lid, "acme.exif-cleaner", "2.0.0", status=VersionStatus.in_review)
    await seed.version(lid, "acme.exif-cleaner", "0.9.0", platform_range=">=99")
    await seed.yank("acme.exif-cleaner", "1.2.0", "leaks gps")
    for stars in (5, 5, 2):
        await seed.review(lid, stars)
    r = await client.get(f"{BASE}/acme.exif-cleaner")
    assert r.status_code == 200
    body = r.json()
    assert body["publisher"] == {"namespace": "acme", "displayName": "Acme", "verified": True}
    assert (body["status"], body["statusReason"], body["downloads"]) == ("active", None, 42)
    assert body["ratings"] == {"average": 4.0, "count": 3,
                               "histogram": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 2}}
    # Newest first by semver; the version under review is hidden.
    versions = {v["version"]: v for v in body["versions"]}
    assert [v["version"] for v in body["versions"]] == ["1.10.0", "1.2.0", "1.0.0", "0.9.0"]
    assert versions["1.2.0"]["yanked"]
    assert versions["1.2.0"]["yankedReason"] == "leaks gps"
    assert versions["1.0.0"]["compatible"]
    assert not versions["0.9.0"]["compatible"]
    assert set(versions["1.0.0"]) >= {"publishedAt", "permissions", "networkHosts",
                                      "secretKeys", "changelog", "scanSummary", "sha256"}


async def test_a_suspended_listing_says_why(client: httpx.AsyncClient, seed: Seeder) -> None:
    await seed.listing("echo.pulled", status=ListingStatus.suspended,
                       status_reason="exfiltrates photos")
    r = await client.get(f"{BASE}/echo.pulled")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["statusReason"]) == ("suspended", "exfiltrates photos")
    d = await client.get(f"{BASE}/echo.pulled/download", params={"version": "1.0.0"})
    assert d.status_code == 410
    assert "exfiltrates photos" in d.json()["detail"]


@pytest.mark.parametrize("path", [
    "/nobody.here", "/nobody.here/download", "/UPPER.case", "/no-dot", "/a.b",
    "/" + "x" * 30 + ".y", "/acme.tool/download/extra",
])
async def test_unknown_or_malformed_ids_are_404(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(BASE + path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_download_serves_signed_verified_bytes(
    app: FastAPI, client: httpx.AsyncClient, seed: Seeder,
) -> None:
    lid = await seed.listing("acme.tool", versions=("1.0.0", "1.1.0"))
    sha = await seed.version(lid, "acme.tool", "1.2.0")
    r = await client.get(f"{BASE}/acme.tool/download")
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == sha == r.headers["x-checksum-sha256"]
    assert r.headers["etag"] == f'"{sha}"'
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == 'attachment; filename="acme.tool-1.2.0.ppx"'
    key = app.state.platform_key
    assert r.headers["x-signature-key-id"] == key.key_id
    assert verify_digest(sha, r.headers["x-signature"], key.public_pem)
    assert not verify_digest("0" * 64, r.headers["x-signature"], key.public_pem)
    older = await client.get(f"{BASE}/acme.tool/download", params={"version": "1.0.0"})
    assert older.status_code == 200
    assert older.headers["x-checksum-sha256"] != sha
    # Not modified: answered from the digest, no bytes.
    again = await client.get(f"{BASE}/acme.tool/download", headers={"If-None-Match": f'"{sha}"'})
    assert again.status_code == 304
    assert again.content == b""


async def test_yanked_only_by_exact_version_in_review_never(
    client: httpx.AsyncClient, seed: Seeder,
) -> None:
    lid = await seed.listing("acme.tool", versions=("1.0.0", "1.1.0"))
    await seed.version(lid, "acme.tool", "2.0.0", status=VersionStatus.in_review)
    await seed.yank("acme.tool", "1.1.0", "crashes")
    latest = await client.get(f"{BASE}/acme.tool/download")
    assert latest.status_code == 200
    assert latest.headers["content-disposition"].endswith('acme.tool-1.0.0.ppx"')
    pinned = await client.get(f"{BASE}/acme.tool/download", params={"version": "1.1.0"})
    assert pinned.status_code == 200
    hidden = await client.get(f"{BASE}/acme.tool/download", params={"version": "2.0.0"})
    assert hidden.status_code == 404
    assert (await client.get(f"{BASE}/acme.tool/download", params={"version": "9.9.9"})
            ).status_code == 404
    await seed.yank("acme.tool", "1.0.0", "also broken")
    assert (await client.get(f"{BASE}/acme.tool/download")).status_code == 404


@pytest.mark.parametrize("version", ["", "x" * 65])
async def test_bad_version_parameter_is_422(
    client: httpx.AsyncClient, seed: Seeder, version: str,
) -> None:
    await seed.listing("acme.tool")
    r = await client.get(f"{BASE}/acme.tool/download", params={"version": version})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.version"


async def test_a_corrupted_or_missing_blob_is_never_served(
    app: FastAPI, client: httpx.AsyncClient, seed: Seeder,
) -> None:
    lid = await seed.listing("acme.tool", versions=())
    sha = await seed.version(lid, "acme.tool", "1.0.0")
    root = Path(app.state.settings.blob_dir).resolve()
    blob = root / sha[:2] / sha[2:4] / sha
    blob.write_bytes(b"PK\x03\x04 evil bytes")
    r = await client.get(f"{BASE}/acme.tool/download")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert b"evil" not in r.content
    blob.unlink()
    r = await client.get(f"{BASE}/acme.tool/download")
    assert r.status_code == 503
