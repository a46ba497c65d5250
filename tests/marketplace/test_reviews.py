"""Reviews (issue #14): installers only, one per user (a second edits it), public without the
reviewer's identity, the developer replies once, the listing's rating follows."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.kit.rate_limit import RateLimiter
from proofpix_plugins.models.marketplace import ListingStatus, MarketplaceListing
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.market_seed import api_key, developer
from tests.marketplace.test_marketplace_install import PID, market_install, seed

REVIEWS = f"/api/plugins/marketplace/{PID}/reviews"


async def rating(platform: FastAPI) -> tuple[float, int]:
    async with session_scope(platform.state.session_factory) as session:
        listing = (await session.execute(select(MarketplaceListing))).scalar_one()
        return listing.rating_avg, listing.rating_count


@pytest.fixture
async def installed(api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path,
                    platform: FastAPI) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0")
    assert (await market_install(api, admin)).status_code == 201


async def test_installers_review_once_and_edit_and_the_rating_follows(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, installed: None
) -> None:
    member = await create_test_user(platform, org=admin.org_slug, role="member")

    first = await api.post(REVIEWS, headers=admin.headers, json={"rating": 5, "text": "great"})
    second = await api.post(REVIEWS, headers=member.headers, json={"rating": 2})

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert await rating(platform) == (3.5, 2)
    edited = await api.post(REVIEWS, headers=member.headers, json={"rating": 4, "text": "ok"})
    assert edited.status_code == 200
    assert edited.json()["id"] == second.json()["id"]
    assert await rating(platform) == (4.5, 2)

    listed = (await api.get(REVIEWS)).json()
    assert listed["total"] == 2
    assert [r["rating"] for r in listed["items"]] == [4, 5]  # newest first
    raw = str(listed)
    assert admin.email not in raw
    assert member.email not in raw
    assert admin.org_slug not in raw
    assert {r["author"] for r in listed["items"]} == {"a verified installer"}


async def test_a_user_whose_organization_did_not_install_it_may_not_review(
    api: httpx.AsyncClient, platform: FastAPI, installed: None
) -> None:
    stranger = await create_test_user(platform)

    r = await api.post(REVIEWS, headers=stranger.headers, json={"rating": 1, "text": "bad"})

    assert r.status_code == 403, r.text
    assert "installed" in r.json()["detail"]
    assert r.json()["errors"][0]["rule"] == "installed-only"
    assert (await api.get(REVIEWS)).json()["total"] == 0
    assert await rating(platform) == (0.0, 0)


async def test_a_suspended_listing_takes_no_reviews_and_keeps_its_rating(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, installed: None
) -> None:
    assert (await api.post(REVIEWS, headers=admin.headers, json={"rating": 4})
            ).status_code == 201
    async with session_scope(platform.state.session_factory) as session:
        listing = (await session.execute(select(MarketplaceListing))).scalar_one()
        listing.status = ListingStatus.suspended
        listing.status_reason = "malware"

    r = await api.post(REVIEWS, headers=admin.headers, json={"rating": 1, "text": "gone"})

    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["rule"] == "active"
    assert await rating(platform) == (4.0, 1)


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"rating": 0}, "rating", "greater_than_equal"),
    ({"rating": 6}, "rating", "less_than_equal"),
    ({"rating": "5"}, "rating", "int_type"),
    ({"rating": 3, "text": "x" * 5001}, "text", "string_too_long"),
    ({"rating": 3, "text": "nul\u0000byte"}, "text", "no-nul"),
    ({"rating": 3, "text": "bidi\u202eevil"}, "text", "value_error"),
    ({"text": "no rating"}, "rating", "missing"),
])
async def test_hostile_review_input_is_a_422(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, installed: None,
    body: dict[str, object], field: str, rule: str,
) -> None:
    r = await api.post(REVIEWS, headers=admin.headers, json=body)

    assert r.status_code == 422, r.text
    assert (r.json()["errors"][0]["field"], r.json()["errors"][0]["rule"]) == (field, rule)
    assert await rating(platform) == (0.0, 0)


async def test_unknown_plugin_reviews_are_404(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, installed: None
) -> None:
    assert (await api.get("/api/plugins/marketplace/acme.none/reviews")).status_code == 404
    r = await api.post("/api/plugins/marketplace/acme.none/reviews", headers=admin.headers,
                       json={"rating": 3})
    assert r.status_code == 404


async def test_reviews_are_rate_limited(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, installed: None
) -> None:
    tight = platform.state.settings.model_copy(update={"rate_limit_plugin_ops": "2/minute"})
    generous = platform.state.rate_limiter
    platform.state.rate_limiter = RateLimiter.from_settings(tight)
    try:
        codes = [(await api.post(REVIEWS, headers=admin.headers, json={"rating": 3})
                  ).status_code for _ in range(3)]
    finally:
        platform.state.rate_limiter = generous

    assert codes == [201, 200, 429]


async def test_only_the_listing_developer_replies_and_only_once(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI, installed: None
) -> None:
    review = (await api.post(REVIEWS, headers=admin.headers, json={"rating": 4})).json()
    async with session_scope(platform.state.session_factory) as session:
        dev_id = (await session.execute(select(MarketplaceListing.developer_id))).scalar_one()
    own = await api_key(platform, dev_id, "publish")
    readonly = await api_key(platform, dev_id, "read")
    other_user = await create_test_user(platform)
    other = await api_key(platform, await developer(platform, other_user.principal.user_id,
                                                    "rival"), "publish")
    url = f"{REVIEWS}/{review['id']}/reply"

    assert (await api.post(url, json={"text": "hi"})).status_code == 401
    assert (await api.post(url, headers={"X-API-Key": readonly},
                           json={"text": "hi"})).status_code == 403
    assert (await api.post(url, headers={"X-API-Key": other},
                           json={"text": "hi"})).status_code == 403
    assert (await api.post(url, headers=admin.headers, json={"text": "hi"})).status_code == 401
    missing = f"{REVIEWS}/00000000-0000-0000-0000-000000000000/reply"
    assert (await api.post(missing, headers={"X-API-Key": own},
                           json={"text": "hi"})).status_code == 404
    r = await api.post(url, headers={"X-API-Key": own}, json={"text": "Thanks, fixed."})
    assert r.status_code == 200, r.text
    assert r.json()["reply"] == "Thanks, fixed."
    again = await api.post(url, headers={"X-API-Key": own}, json={"text": "again"})
    assert again.status_code == 409
    assert (await api.get(REVIEWS)).json()["items"][0]["reply"] == "Thanks, fixed."
