"""A small catalogue every search test shares: three visible listings, the hidden kinds."""

from __future__ import annotations

from typing import Any

import httpx

from proofpix_plugins.models.marketplace import ListingStatus, VersionStatus
from tests.marketplace.listing_seed import Seeder, days_ago

SEARCH_URL = "/api/plugins/marketplace/search"


async def search_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    """The plugin ids of one search page, in order (asserting a 200)."""
    r = await client.get(SEARCH_URL, params=params)
    assert r.status_code == 200, r.text
    return [i["pluginId"] for i in r.json()["items"]]


VISIBLE = ("acme.exif-cleaner", "beta.exif-viewer", "gamma.watermark")
HIDDEN = ("delta.yanked-only", "echo.suspended", "foxtrot.in-review")


async def seed_catalogue(seed: Seeder) -> None:
    await seed.listing(
        "acme.exif-cleaner", name="EXIF Cleaner", description="strips gps coordinates",
        tags=["exif", "gps"], category="privacy", type="processor",
        permissions=["files", "metadata"], verified=True, downloads=500, rating_avg=4.5,
        rating_count=10, platform_range=">=0.0.1", updated_at=days_ago(3))
    await seed.listing(
        "beta.exif-viewer", name="EXIF Viewer", description="shows exif fields",
        tags=["exif"], category="metadata", type="analyzer", permissions=["files"],
        downloads=900, rating_avg=3.0, rating_count=2, platform_range=">=99",
        updated_at=days_ago(1))
    await seed.listing(
        "gamma.watermark", name="Watermark", description="adds a visible watermark",
        tags=["image"], category="image", type="processor", permissions=["files", "images"],
        verified=True, downloads=100, rating_avg=4.9, rating_count=50,
        updated_at=days_ago(2))
    # Hidden: every version yanked; suspended; the only version sent back to review.
    lid = await seed.listing("delta.yanked-only", name="Exif Yanked", versions=())
    await seed.version(lid, "delta.yanked-only", "1.0.0", yanked=True, yanked_reason="broken")
    await seed.listing("echo.suspended", name="Exif Suspended",
                       status=ListingStatus.suspended, status_reason="malware")
    lid = await seed.listing("foxtrot.in-review", name="Exif In Review", versions=())
    await seed.version(lid, "foxtrot.in-review", "1.0.0", status=VersionStatus.in_review)
