"""The console in Debian's chromium (Playwright): a newcomer's whole journey, CSRF refused,
plugin text inert, accessibility (axe-core) on every page, phone width, the API docs offline,
and screenshots of the main pages for docs/ui/.

One live server per module (a real uvicorn on 127.0.0.1 with the plugin platform); every
request the browser makes is recorded and must stay on that origin.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from proofpix_plugins.web.assets import STATIC_DIR
from tests.fixtures.app import TEST_PASSWORD, TestUser, build_test_settings, create_test_user
from tests.plugins.builders import gps_jpeg
from tests.web.browser import CHROMIUM_FLAGS, LiveServer, chromium_path, serve
from tests.web.console_client import csrf_of
from tests.web.packages import analyzer_ppx

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
AXE = "/static/vendor/axe-core-4.14.1/axe.min.js"
PID = "acme.web-analyzer"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ppx-browser-", dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103 - plugin uids traverse, never list
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def live(workdir: Path) -> Iterator[LiveServer]:
    chromium_path()  # skip (or fail in CI) before starting anything
    db = f"sqlite+aiosqlite:///{workdir / 'console.db'}"
    yield from serve(build_test_settings(db, workdir / "data",
                                         plugin_metrics_flush_seconds=3600))


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def newcomer(live: LiveServer) -> TestUser:
    return live.run(create_test_user(live.app, tier="enterprise", role="owner",
                                     email="newcomer@example.com"))


@pytest.fixture(scope="module")
def prepared(live: LiveServer, newcomer: TestUser, workdir: Path) -> str:
    """The analyzer installed, configured and loaded, and one photo: the journey's end state,
    reached over HTTP when the journey test did not run first (``-k``). Answers the photo id."""
    with httpx.Client(base_url=live.base_url) as client:
        home = client.get("/login")
        client.post("/login", data={"email": newcomer.email, "password": TEST_PASSWORD,
                                    "csrf_token": csrf_of(home.text)})
        csrf = csrf_of(client.get("/").text)
        if client.get(f"/console/plugins/{PID}").status_code == 404:
            with analyzer_ppx(workdir).open("rb") as fh:
                consent = client.post("/console/install", data={"csrf_token": csrf},
                                      files={"file": ("a.ppx", fh, "application/zip")})
            token = consent.text.split('name="token" value="', 1)[1].split('"', 1)[0]
            client.post("/console/install/confirm", data={
                "csrf_token": csrf, "token": token, "grant": ["files", "metadata"]})
            client.post(f"/console/plugins/{PID}/config", data={
                "csrf_token": csrf, "endpoint": "https://hooks.acme.example",
                "apiKey": "s3cret-value-0123456789"})
            client.post(f"/console/plugins/{PID}/load", data={"csrf_token": csrf})
        with gps_jpeg(workdir / "prepared.jpg").open("rb") as fh:
            done = client.post("/console/photos", data={"csrf_token": csrf},
                               files={"file": ("prepared.jpg", fh, "image/jpeg")})
    assert done.status_code == 303, done.text
    return done.headers["location"].rsplit("/", 1)[1]


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.on("request", lambda request: live.requests.append(request.url))
    # Chromium reports a request its CSP refused as failed with "csp", never sent.
    opened.on("requestfailed", lambda request: live.blocked.append(request.url)
              if request.failure in ("csp", "net::ERR_BLOCKED_BY_CSP") else None)
    yield opened
    context.close()
    foreign = [u for u in live.requests
               if not u.startswith((live.base_url + "/", "data:", "blob:"))
               and u != live.base_url and u not in live.blocked]
    live.requests.clear()
    live.blocked.clear()
    assert foreign == [], "the browser fetched something outside 127.0.0.1"


def sign_in_with_keyboard(page: Page, live: LiveServer, email: str) -> None:
    page.goto(live.base_url + "/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    for _ in range(20):
        if page.evaluate("document.activeElement.id") == "email":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "email"
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()


# For a failure message: the elements that stick out past the viewport's right edge.
WIDEST = """[...document.querySelectorAll('body *')].filter(e =>
    e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' '
    + Math.round(e.getBoundingClientRect().right))"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core findings (WCAG 2.x A/AA, contrast included)."""
    page.add_script_tag(url=AXE)  # same-origin file: allowed by the page's CSP
    found: list[dict[str, Any]] = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}));
    }""")
    return found


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_newcomer_installs_configures_loads_and_sees_a_photo_result(
    page: Page, live: LiveServer, newcomer: TestUser, workdir: Path,
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    shot_login = page.goto(live.base_url + "/login")
    assert shot_login is not None
    assert shot_login.status == 200
    shot(page, "login")
    sign_in_with_keyboard(page, live, newcomer.email)
    shot(page, "home")

    page.get_by_role("link", name="Install", exact=True).click()
    page.get_by_label("Plugin package (.ppx)").set_input_files(str(analyzer_ppx(workdir)))
    page.get_by_role("button", name="Upload and review").click()
    expect(page.get_by_role("heading", name="Review permissions")).to_be_visible()
    expect(page.get_by_text("api.acme.example")).to_be_visible()
    shot(page, "consent")
    page.get_by_label("http").uncheck()  # withhold network access
    page.get_by_role("button", name=re.compile("^Install Web Analyzer")).click()

    expect(page.get_by_role("heading", name="Configuration")).to_be_visible()
    page.get_by_label(re.compile("^endpoint")).fill("short")
    page.get_by_label(re.compile("^apiKey")).fill("s3cret-value-0123456789")
    page.get_by_role("button", name="Save configuration").click()
    expect(page.locator("#cfg-endpoint-error")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "cfg-endpoint"
    page.get_by_label(re.compile("^endpoint")).fill("https://hooks.acme.example")
    page.get_by_label(re.compile("^apiKey")).fill("s3cret-value-0123456789")
    page.get_by_label("retries").fill("3")
    page.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_text("Configuration saved.")).to_be_visible()
    assert "s3cret-value-0123456789" not in page.content()

    page.get_by_role("button", name=re.compile("^Load")).click()
    expect(page.get_by_role("button", name=re.compile("^Unload"))).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live updates on.")

    page.get_by_role("link", name="Installed plugins").click()
    expect(page.get_by_role("link", name="Web Analyzer")).to_be_visible()
    shot(page, "plugins")

    page.get_by_role("link", name="Photos").click()
    page.get_by_label(re.compile("^Photo")).set_input_files(str(gps_jpeg(workdir / "p.jpg")))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="Plugin results")).to_be_visible()
    expect(page.get_by_role("cell", name=PID)).to_be_visible()
    expect(page.get_by_text('"hasGps": true')).to_be_visible()
    assert page.locator("img").first.evaluate("img => img.naturalWidth") > 0
    shot(page, "photo")
    # The plugin page once the photo gave it calls to chart.
    page.goto(f"{live.base_url}/console/plugins/{PID}")
    expect(page.locator("#metrics-charts .uplot").first).to_be_visible()
    shot(page, "plugin")
    assert [e for e in errors if "Content Security Policy" in e] == []
    assert live.blocked == [], "a console page attempted a request its CSP had to stop"


def test_a_request_without_the_csrf_token_gets_403(
    page: Page, live: LiveServer, newcomer: TestUser, prepared: str,
) -> None:
    sign_in_with_keyboard(page, live, newcomer.email)
    page.goto(live.base_url + "/console/plugins")
    status = page.evaluate("""async (path) => (await fetch(path, {method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'},
        body: ''})).status""", f"/console/plugins/{PID}/unload")
    assert status == 403
    ok = page.evaluate("""async ([path, token]) => (await fetch(path, {method: 'POST',
        headers: {'X-CSRF-Token': token, 'HX-Request': 'true'}})).status""",
                       [f"/console/plugins/{PID}/unload",
                        page.locator('input[name="csrf_token"]').first.input_value()])
    assert ok in (200, 409)


def test_a_script_in_a_plugin_description_never_runs(
    page: Page, live: LiveServer, newcomer: TestUser, prepared: str,
) -> None:
    sign_in_with_keyboard(page, live, newcomer.email)
    page.goto(f"{live.base_url}/console/plugins/{PID}")
    text = page.locator(".plugin-text")
    expect(text).to_contain_text("<script>")  # shown as text
    assert text.locator("script, img, [onerror]").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned"
    assert text.locator("a[href^='javascript']").count() == 0


def test_every_page_passes_axe_and_fits_a_phone(
    page: Page, live: LiveServer, newcomer: TestUser, prepared: str,
) -> None:
    page.goto(live.base_url + "/login")
    assert axe_violations(page) == []
    sign_in_with_keyboard(page, live, newcomer.email)
    photo = prepared
    pages = ["/", "/console/plugins", f"/console/plugins/{PID}", "/console/install",
             "/console/photos", f"/console/photos/{photo}", "/console/plugins/acme.none",
             "/console/updates"]
    for path in pages:
        page.goto(live.base_url + path)
        assert axe_violations(page) == [], path
    page.set_viewport_size({"width": 390, "height": 844})
    for path in pages:
        page.goto(live.base_url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, page.evaluate(WIDEST))
    page.goto(f"{live.base_url}/console/plugins/{PID}")
    shot(page, "plugin-phone")


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_load_with_no_request_leaving_127_0_0_1(
    page: Page, live: LiveServer, path: str,
) -> None:
    page.goto(live.base_url + path)
    # The schema is generated on first use, slowly on a busy machine: a generous wait.
    if path == "/docs":
        expect(page.locator(".swagger-ui .info .title")).to_contain_text(
            "ProofPix", timeout=TIMEOUT_MS * 2)
    else:
        expect(page.locator("h1").first).to_contain_text("ProofPix", timeout=TIMEOUT_MS * 2)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)  # the logo's refusal is reported after it renders
    assert all(u.startswith((live.base_url, "data:", "blob:")) or u in live.blocked
               for u in live.requests), live.requests
    # ReDoc always renders Redocly's logo from its CDN; the docs CSP (img-src 'self' data:)
    # stops it in the browser. Nothing else may even be attempted.
    assert set(live.blocked) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}


def test_vendored_axe_is_the_one_injected() -> None:
    assert (STATIC_DIR / AXE.removeprefix("/static/")).is_file()


MARKET_PID = "acme.mcounter"


@pytest.fixture(scope="module")
def market_listing(live: LiveServer, newcomer: TestUser, workdir: Path) -> str:
    """A published marketplace listing asking for storage and http (one host)."""
    from tests.marketplace.market_seed import counter_manifest, developer, publish

    out = workdir / "market"
    out.mkdir(exist_ok=True)
    meta = counter_manifest(MARKET_PID, "1.0.0", name="Mark Counter",
                            description="Counts marks on **every** photo.",
                            permissions=["storage", "http"],
                            network={"allow": ["api.example.com"]})
    dev = live.run(developer(live.app, newcomer.principal.user_id, "acme"))
    live.run(publish(live.app, out, meta, developer_id=dev))
    return MARKET_PID


def test_a_newcomer_finds_a_plugin_and_installs_it_from_the_marketplace_with_consent(
    page: Page, live: LiveServer, market_listing: str,
) -> None:
    shopper = live.run(create_test_user(live.app, tier="enterprise", role="owner",
                                        email="shopper@example.com"))
    sign_in_with_keyboard(page, live, shopper.email)
    page.goto(live.base_url + "/")
    assert axe_violations(page) == []
    page.get_by_label("Search the marketplace").fill("mark")
    # Live results: htmx swaps the results after the debounce, no submit.
    results = page.locator("#market-results")
    expect(results.get_by_role("link", name="Mark Counter")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=mark"))
    shot(page, "marketplace")
    results.get_by_role("link", name="Mark Counter").click()
    expect(page.get_by_role("heading", name="Mark Counter", level=1)).to_be_visible()
    expect(page.get_by_text("api.example.com").first).to_be_visible()
    assert axe_violations(page) == []
    shot(page, "listing")
    page.get_by_role("button", name=re.compile("Install Mark Counter")).click()
    expect(page.get_by_role("heading", name="Review permissions")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("http").uncheck()
    page.get_by_role("button", name="Install Mark Counter").click()
    expect(page).to_have_url(re.compile(rf"/console/plugins/{MARKET_PID}"))
    expect(page.get_by_role("heading", name="Mark Counter")).to_be_visible()


def _wait_for_status(page: Page, status: str) -> None:
    for _ in range(60):
        if page.get_by_text(status, exact=True).count():
            return
        page.wait_for_timeout(250)
        page.reload()
    expect(page.get_by_text(status, exact=True)).to_be_visible()


def test_a_developer_submits_an_admin_approves_and_a_verified_namespace_publishes(
    page: Page, live: LiveServer, workdir: Path,
) -> None:
    from proofpix_plugins.db import session_scope
    from proofpix_plugins.developers.service import DeveloperService
    from tests.marketplace.listing_seed import SOURCE
    from tests.plugins.builders import build_ppx, manifest

    dev = live.run(create_test_user(live.app, tier="free", role="member",
                                    email="dev@example.com"))
    sign_in_with_keyboard(page, live, dev.email)
    page.get_by_role("link", name="Developer portal").click()
    assert axe_violations(page) == []
    page.get_by_label("Namespace", exact=True).fill("admin")
    page.get_by_label("Display name").fill("Admin Tools")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#namespace-error")).to_be_visible()
    expect(page.get_by_label("Namespace", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Namespace", exact=True).fill("lens")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_label("API key", exact=True)).to_have_value(re.compile(r".{20,}"))
    assert axe_violations(page) == []
    shot(page, "developer")
    page.get_by_role("link", name=re.compile("Your submissions")).click()
    first = build_ppx(workdir / "lens1", manifest("lens.sharpen", "1.0.0"), SOURCE)
    page.get_by_label("Package (.ppx)").set_input_files(str(first))
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="lens.sharpen 1.0.0")).to_be_visible()
    _wait_for_status(page, "in review")
    assert axe_violations(page) == []
    submission_url = page.url

    admin_page = page.context.browser.new_context(  # type: ignore[union-attr]
        viewport={"width": 1280, "height": 900}).new_page()
    root = live.run(create_test_user(live.app, tier="enterprise", platform_admin=True,
                                     email="root@example.com"))
    sign_in_with_keyboard(admin_page, live, root.email)
    admin_page.get_by_role("link", name="Review queue").click()
    assert axe_violations(admin_page) == []
    admin_page.get_by_role("link", name="lens.sharpen").click()
    expect(admin_page.get_by_role("heading", name=re.compile("Compared with"))).to_be_visible()
    assert axe_violations(admin_page) == []
    shot(admin_page, "admin-review")
    admin_page.get_by_label(re.compile("^Reason")).fill("Reviewed the source.")
    admin_page.get_by_role("button", name="Approve and publish").click()
    expect(admin_page.get_by_text("Nothing to review.")).to_be_visible()
    admin_page.context.close()

    page.goto(submission_url)
    _wait_for_status(page, "published")

    async def verify() -> None:
        async with session_scope(live.app.state.session_factory) as session:
            await DeveloperService(session).set_verified("lens", True, "browser test")

    live.run(verify())
    page.goto(live.base_url + "/console/developer/submissions")
    second = build_ppx(workdir / "lens2", manifest("lens.sharpen", "1.1.0"), SOURCE)
    page.get_by_label("Package (.ppx)").set_input_files(str(second))
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="lens.sharpen 1.1.0")).to_be_visible()
    _wait_for_status(page, "published")
    page.get_by_role("link", name="see the listing").click()
    expect(page.get_by_role("heading", name="What version 1.1.0 may do")).to_be_visible()


TAKEDOWN_PID = "acme.takedown-demo"


def test_a_platform_admin_curates_yanks_suspends_and_reads_the_analytics(
    page: Page, live: LiveServer, newcomer: TestUser, workdir: Path,
) -> None:
    """The second-wave admin pages, by keyboard-reachable controls: axe on each (featured,
    takedowns list, a listing's takedowns, analytics), charts drawn, phone width, screenshots."""
    from datetime import timedelta

    from sqlalchemy import select

    from proofpix_plugins.db import session_scope
    from proofpix_plugins.models.base import utcnow
    from proofpix_plugins.models.marketplace import (
        MarketplaceDownload,
        MarketplaceListing,
        SearchTermCount,
    )
    from tests.marketplace.market_seed import counter_manifest, developer, publish

    out = workdir / "takedown"
    out.mkdir(exist_ok=True)
    dev = live.run(developer(live.app, newcomer.principal.user_id, "acme"))
    for version in ("1.0.0", "1.1.0"):
        meta = counter_manifest(TAKEDOWN_PID, version, name="Takedown Demo",
                                category="privacy", description="Seeded for the admin pages.")
        live.run(publish(live.app, out / version, meta, developer_id=dev))

    async def seed_counts() -> None:
        async with session_scope(live.app.state.session_factory) as session:
            listing = (await session.execute(select(MarketplaceListing).where(
                MarketplaceListing.plugin_id == TAKEDOWN_PID))).scalar_one()
            listing.installs_total = 24
            lid = listing.id
            today = utcnow().date()
            session.add_all([MarketplaceDownload(
                listing_id=lid, version="1.0.0", day=today - timedelta(days=n),
                downloads=10 + 3 * n, installs=2 + n % 3) for n in range(12)])
            session.add_all([SearchTermCount(term=t, day=today, count=c)
                             for t, c in (("exif", 14), ("gps", 9), ("watermark", 4))])

    live.run(seed_counts())
    root = live.run(create_test_user(live.app, tier="enterprise", platform_admin=True,
                                     email="curator@example.com"))
    sign_in_with_keyboard(page, live, root.email)

    page.get_by_role("link", name="Featured", exact=True).click()
    expect(page.get_by_role("heading", name="Featured plugins")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label(re.compile("^Add a plugin by its id")).fill(TAKEDOWN_PID)
    page.get_by_label(re.compile("^Add a plugin by its id")).press("Enter")
    expect(page.get_by_text("Added to the featured list.")).to_be_visible()
    expect(page.get_by_role("button", name=f"Remove {TAKEDOWN_PID}")).to_be_visible()
    assert axe_violations(page) == []
    shot(page, "admin-featured")
    page.goto(live.base_url + "/")
    expect(page.locator("#featured-heading + ul").get_by_text("staff pick").first).to_be_visible()

    page.get_by_role("link", name="Takedowns").click()
    expect(page.get_by_role("heading", name="Listings and takedowns")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name=TAKEDOWN_PID).click()
    expect(page.get_by_role("heading", name="Takedown Demo")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("Version", exact=True).select_option("1.1.0")
    page.get_by_label(re.compile("^Reason for yanking")).fill("Corrupts EXIF dates.")
    page.get_by_role("button", name="Yank", exact=True).click()
    expect(page.get_by_text("Version yanked.")).to_be_visible()
    expect(page.get_by_role("cell", name="yes: Corrupts EXIF dates.")).to_be_visible()
    # A blank reason (the browser's own `required` check taken off): the server's error sits
    # on the field, which gets the focus.
    page.locator("#suspend-reason").evaluate("el => el.removeAttribute('required')")
    page.get_by_role("button", name=f"Suspend {TAKEDOWN_PID}").click()
    expect(page.locator("#suspend-reason-error")).to_contain_text("Give a reason")
    assert page.evaluate("document.activeElement.id") == "suspend-reason"
    assert axe_violations(page) == []
    page.get_by_label(re.compile("^Reason for suspending")).fill("Sends photos to a host.")
    page.get_by_role("button", name=f"Suspend {TAKEDOWN_PID}").click()
    expect(page.get_by_text("Suspended.", exact=True)).to_be_visible()
    assert axe_violations(page) == []
    shot(page, "admin-takedown")

    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Marketplace analytics")).to_be_visible()
    expect(page.locator("#analytics-charts [data-chart=daily] .uplot")).to_be_visible()
    expect(page.locator("#analytics-charts [data-chart=categories] .uplot")).to_be_visible()
    assert axe_violations(page) == []
    shot(page, "admin-analytics")

    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/console/admin/featured", "/console/admin/listings",
                 f"/console/admin/listings/{TAKEDOWN_PID}", "/console/admin/analytics"):
        page.goto(live.base_url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, page.evaluate(WIDEST))
    assert live.blocked == [], "an admin page attempted a request its CSP had to stop"
