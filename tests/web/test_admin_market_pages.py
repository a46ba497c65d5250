"""Platform administration, second part: featured curation, takedowns (yank a version, suspend
a listing, each with a mandatory reason, and lifting them) and marketplace analytics. Platform
administrators only; CSRF on every form; a missing reason is a form error next to its field;
the suspension really blocks installs and disables installations; curation shows on the
marketplace home."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import featured
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    ListingStatus,
    MarketplaceDownload,
    MarketplaceListing,
    MarketplaceVersion,
    SearchTermCount,
)
from proofpix_plugins.models.plugins import Plugin, PluginStatus
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.catalogue import seed_catalogue
from tests.marketplace.listing_seed import Seeder
from tests.marketplace.market_seed import counter_manifest, developer, publish
from tests.web.conftest import browser_client
from tests.web.console_client import scripts_of, sign_in

PAGES = ["/console/admin/featured", "/console/admin/listings",
         "/console/admin/listings/acme.mcounter", "/console/admin/analytics"]
PID = "acme.mcounter"


async def _root(app: FastAPI) -> TestUser:
    return await create_test_user(app, tier="enterprise", platform_admin=True)


async def _publish(app: FastAPI, owner: TestUser, out: Path, *versions: str) -> None:
    dev = await developer(app, owner.principal.user_id, "acme")
    for v in versions or ("1.0.0",):
        await publish(app, out / v, counter_manifest(PID, v, permissions=["storage"]),
                      developer_id=dev)


def _featured_section(html: str) -> str:
    start = html.index('id="featured-heading"')
    return html[start:html.index("</section>", start)]


async def _curated(app: FastAPI) -> list[str]:
    async with session_scope(app.state.session_factory) as session:
        return await featured.curated_ids(session)


async def _listing(app: FastAPI, pid: str = PID) -> MarketplaceListing:
    async with session_scope(app.state.session_factory) as session:
        return (await session.execute(select(MarketplaceListing).where(
            MarketplaceListing.plugin_id == pid))).scalar_one()


async def test_every_admin_page_renders_for_a_platform_admin_only(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    await _publish(console_app, admin_user, tmp_path)
    for path in PAGES:  # anonymous: to the sign-in page
        anonymous = await web.get(path)
        assert anonymous.status_code == 303, path
        assert anonymous.headers["location"].startswith("/login?next=/console/admin/")
    posts = [("/console/admin/featured", {"action": "add", "plugin_id": PID}),
             (f"/console/admin/listings/{PID}", {"action": "suspend", "reason": "x"})]
    csrf = await sign_in(web, admin_user.email)  # an org admin, not a platform admin
    home = (await web.get("/")).text
    for path in PAGES:
        assert (await web.get(path)).status_code == 403, path
        assert f'href="{path}"' not in home
    assert f'/console/admin/listings/{PID}' not in (await web.get(f"/marketplace/{PID}")).text
    for path, form in posts:
        assert (await web.post(path, data={"csrf_token": csrf, **form})).status_code == 403
    assert (await _listing(console_app)).status is ListingStatus.active
    assert await _curated(console_app) == []

    root = await _root(console_app)
    async with browser_client(console_app) as client:
        await sign_in(client, root.email)
        home = (await client.get("/")).text
        for link in ("/console/admin/featured", "/console/admin/listings",
                     "/console/admin/analytics"):
            assert f'href="{link}"' in home
        assert f'href="/console/admin/listings/{PID}"' in (
            await client.get(f"/marketplace/{PID}")).text
        for path in PAGES:
            page = await client.get(path)
            assert page.status_code == 200, path
            found = scripts_of(page.text)
            assert (found.inline, found.handlers, found.javascript_urls) == (0, [], []), path
            assert 'aria-current="page"' in page.text, path
        for path in ("/console/admin/listings/acme.none", "/console/admin/listings/..%2Fx",
                     "/console/admin/listings/" + "a" * 300):
            assert (await client.get(path)).status_code == 404, path
        for query in ("?q=%25", "?q=" + "x" * 500, "?q=%27%22%3Cscript%3E"):
            assert (await client.get("/console/admin/listings" + query)).status_code == 200
        assert (await client.get("/console/admin/listings?q=%00")).status_code < 500
        for query in ("?days=0", "?days=abc", "?days=99999999999999999999", "?days=7"):
            assert (await client.get("/console/admin/analytics" + query)).status_code == 200


async def test_curation_adds_reorders_removes_and_shows_on_the_home_page(
    console_app: FastAPI, web: httpx.AsyncClient, tmp_path: Path,
) -> None:
    await seed_catalogue(Seeder(console_app, tmp_path))
    root = await _root(console_app)
    csrf = await sign_in(web, root.email)
    page = await web.get("/console/admin/featured")
    assert 'for="plugin_id"' in page.text
    assert "gamma.watermark" in page.text  # the top of the catalogue, each with "Curate"

    def add(pid: str, token: str | None = csrf) -> dict[str, str]:
        form = {"action": "add", "plugin_id": pid}
        return form if token is None else {**form, "csrf_token": token}

    url = "/console/admin/featured"
    assert (await web.post(url, data=add("gamma.watermark", None))).status_code == 403
    assert (await web.post(url, data=add("gamma.watermark", "forged"))).status_code == 403
    assert await _curated(console_app) == []
    for pid, message in (("", "Enter the plugin id"),
                         ("nobody.here", "no marketplace listing has this id"),
                         ("echo.suspended", "the listing is suspended"),
                         ("x" * 150, "at most 100 characters")):
        refused = await web.post(url, data=add(pid))
        assert refused.status_code == 422, pid
        assert message in unescape(refused.text), pid
        assert 'aria-invalid="true" aria-describedby="plugin_id-error"' in refused.text
    assert await _curated(console_app) == []

    for pid in ("gamma.watermark", "acme.exif-cleaner"):
        done = await web.post(url, data=add(pid))
        assert done.status_code == 303, done.text
    assert await _curated(console_app) == ["gamma.watermark", "acme.exif-cleaner"]
    duplicate = await web.post(url, data=add("gamma.watermark"))
    assert duplicate.status_code == 422
    assert "duplicate" in duplicate.text
    box = _featured_section((await web.get("/")).text)
    assert box.count("staff pick") == 2
    assert box.index("Watermark") < box.index("EXIF Cleaner") < box.index("EXIF Viewer")

    moved = await web.post(url, data={"csrf_token": csrf, "action": "up",
                                      "plugin_id": "acme.exif-cleaner"})
    assert moved.status_code == 303
    assert await _curated(console_app) == ["acme.exif-cleaner", "gamma.watermark"]
    box = _featured_section((await web.get("/")).text)
    assert box.index("EXIF Cleaner") < box.index("Watermark")

    gone = await web.post(url, data={"csrf_token": csrf, "action": "remove",
                                     "plugin_id": "acme.exif-cleaner"})
    assert gone.status_code == 303
    assert await _curated(console_app) == ["gamma.watermark"]
    assert _featured_section((await web.get("/")).text).count("staff pick") == 1
    for action in ("remove", "up", "drop"):
        bad = await web.post(url, data={"csrf_token": csrf, "action": action,
                                        "plugin_id": "beta.exif-viewer"})
        assert bad.status_code == 422, action
    assert await _curated(console_app) == ["gamma.watermark"]


async def test_a_suspension_needs_a_reason_blocks_installs_and_disables_installations(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    await _publish(console_app, admin_user, tmp_path)
    async with browser_client(console_app) as org:
        org_csrf = await sign_in(org, admin_user.email)
        installed = await org.post(f"/marketplace/{PID}/install",
                                   data={"csrf_token": org_csrf, "version": "1.0.0"})
        assert installed.status_code == 303, installed.text
        root = await _root(console_app)
        csrf = await sign_in(web, root.email)
        url = f"/console/admin/listings/{PID}"
        page = await web.get(url)
        assert 'for="suspend-reason"' in page.text
        assert (await web.post(url, data={"action": "suspend",
                                          "reason": "malware"})).status_code == 403
        for blank in ("", "   "):
            missing = await web.post(url, data={"csrf_token": csrf, "action": "suspend",
                                                "reason": blank})
            assert missing.status_code == 422
            assert "Give a reason" in missing.text
            assert 'aria-invalid="true" aria-describedby="suspend-reason-error"' in missing.text
        too_long = await web.post(url, data={"csrf_token": csrf, "action": "suspend",
                                             "reason": "x" * 2001})
        assert too_long.status_code == 422
        assert "x" * 2001 in too_long.text  # the typed text is kept
        assert (await _listing(console_app)).status is ListingStatus.active

        done = await web.post(url, data={"csrf_token": csrf, "action": "suspend",
                                         "reason": "sends photos <b>away</b>"})
        assert done.status_code == 303, done.text
        listing = await _listing(console_app)
        assert (listing.status, listing.status_reason) == (
            ListingStatus.suspended, "sends photos <b>away</b>")
        shown = await web.get(done.headers["location"])
        assert "Suspended." in shown.text
        assert "sends photos &lt;b&gt;away&lt;/b&gt;" in shown.text
        async with session_scope(console_app.state.session_factory) as session:
            row = (await session.execute(select(Plugin).where(Plugin.plugin_id == PID))
                   ).scalar_one()
        assert row.status is PluginStatus.disabled
        again = await web.post(url, data={"csrf_token": csrf, "action": "suspend",
                                          "reason": "twice"})
        assert again.status_code == 409
        assert "already suspended" in again.text

        # The protection holds: the listing says so and no organization can install it.
        public = await org.get(f"/marketplace/{PID}")
        assert "suspended by the marketplace" in public.text
        assert f'href="/marketplace/{PID}/install"' not in public.text
        other = await create_test_user(console_app, tier="enterprise", role="owner")
        async with browser_client(console_app) as fresh:
            fresh_csrf = await sign_in(fresh, other.email)
            refused = await fresh.post(f"/marketplace/{PID}/install",
                                       data={"csrf_token": fresh_csrf, "version": "1.0.0"})
            assert refused.status_code in (404, 409), refused.text
            assert (await fresh.get(f"/marketplace/{PID}/install")).status_code in (404, 409)
        async with session_scope(console_app.state.session_factory) as session:
            orgs = (await session.execute(select(Plugin.organization_id).where(
                Plugin.plugin_id == PID))).scalars().all()
        assert other.principal.org_id not in orgs

        lifted = await web.post(url, data={"csrf_token": csrf, "action": "unsuspend",
                                           "reason": ""})
        assert lifted.status_code == 303, lifted.text
        assert (await _listing(console_app)).status is ListingStatus.active


async def test_a_yank_needs_a_reason_and_can_be_lifted(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    await _publish(console_app, admin_user, tmp_path, "1.0.0", "1.1.0")
    root = await _root(console_app)
    csrf = await sign_in(web, root.email)
    url = f"/console/admin/listings/{PID}"
    page = await web.get(url)
    assert 'for="yank-version"' in page.text
    assert 'for="yank-reason"' in page.text
    form = {"action": "yank", "version": "1.1.0"}
    assert (await web.post(url, data={**form, "reason": "broken"})).status_code == 403
    missing = await web.post(url, data={"csrf_token": csrf, **form, "reason": ""})
    assert missing.status_code == 422
    assert 'aria-invalid="true" aria-describedby="yank-reason-error"' in missing.text
    no_version = await web.post(url, data={"csrf_token": csrf, "action": "yank",
                                           "reason": "broken"})
    assert no_version.status_code == 422
    assert "Choose a version" in no_version.text
    unknown = await web.post(url, data={"csrf_token": csrf, "action": "yank",
                                        "version": "9.9.9", "reason": "broken"})
    assert unknown.status_code == 404
    assert (await _listing(console_app)).latest_version == "1.1.0"

    done = await web.post(url, data={"csrf_token": csrf, **form,
                                     "reason": "corrupts EXIF"})
    assert done.status_code == 303, done.text
    async with session_scope(console_app.state.session_factory) as session:
        yanked = (await session.execute(select(MarketplaceVersion).where(
            MarketplaceVersion.version == "1.1.0"))).scalar_one()
    assert (yanked.yanked, yanked.yanked_reason) == (True, "corrupts EXIF")
    assert (await _listing(console_app)).latest_version == "1.0.0"
    shown = await web.get(url)
    assert "yes: corrupts EXIF" in shown.text
    assert 'for="unyank-version"' in shown.text
    twice = await web.post(url, data={"csrf_token": csrf, **form, "reason": "again"})
    assert twice.status_code == 409
    bad = await web.post(url, data={"csrf_token": csrf, "action": "delete",
                                    "reason": "x"})
    assert bad.status_code == 422

    lifted = await web.post(url, data={"csrf_token": csrf, "action": "unyank",
                                       "version": "1.1.0", "reason": "fixed"})
    assert lifted.status_code == 303
    assert (await _listing(console_app)).latest_version == "1.1.0"


async def test_analytics_charts_and_tables_come_from_the_service(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    await _publish(console_app, admin_user, tmp_path)
    listing = await _listing(console_app)
    today = utcnow().date()
    async with session_scope(console_app.state.session_factory) as session:
        session.add_all([
            MarketplaceDownload(listing_id=listing.id, version="1.0.0", day=today,
                                downloads=7, installs=3),
            MarketplaceDownload(listing_id=listing.id, version="1.0.0",
                                day=today - timedelta(days=2), downloads=4, installs=1),
            SearchTermCount(term="<gps>", day=today, count=5),
        ])
    root = await _root(console_app)
    await sign_in(web, root.email)
    page = await web.get("/console/admin/analytics", params={"days": "7"})
    assert page.status_code == 200
    match = re.search(r'id="analytics-charts" data-series="([^"]*)"', page.text)
    assert match
    series = json.loads(unescape(match.group(1)))
    assert len(series["t"]) == 7
    assert series["downloads"][-1] == 7
    assert series["downloads"][-3] == 4
    assert sum(series["installs"]) == 4
    assert series["categories"] == [listing.category]
    assert "11 downloads · 4 installs" in page.text
    assert "&lt;gps&gt;" in page.text
    assert "<gps>" not in page.text
    assert 'data-chart="daily"' in page.text
    assert 'role="img"' in page.text
    srcs = scripts_of(page.text).srcs
    assert any("uPlot" in s for s in srcs)
    assert not any("htmx" in s for s in srcs)


@pytest.mark.parametrize("path", ["/console/admin/featured", "/console/admin/listings/x.y"])
async def test_admin_forms_refuse_another_sessions_token(
    console_app: FastAPI, web: httpx.AsyncClient, path: str,
) -> None:
    root = await _root(console_app)
    await sign_in(web, root.email)
    async with browser_client(console_app) as other:
        token = (await other.get("/login")).text.split('name="csrf_token" value="', 1)[1]
    token = token.split('"', 1)[0]
    refused = await web.post(path, data={"csrf_token": token, "action": "add",
                                         "plugin_id": "x.y", "reason": "r"})
    assert refused.status_code == 403
