"""The organization console over HTTP, against the real platform: install with consent, the
generated config form (secrets write-only, errors by field), load, metrics, events, photos."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.fixtures.app import TestUser
from tests.plugins.builders import gps_jpeg
from tests.web.console_client import csrf_of, scripts_of, sign_in
from tests.web.packages import analyzer_ppx

PID = "acme.web-analyzer"


async def _upload_package(web: httpx.AsyncClient, csrf: str, package: Path) -> httpx.Response:
    with package.open("rb") as fh:
        return await web.post("/console/install", data={"csrf_token": csrf},
                              files={"file": (package.name, fh, "application/zip")})


async def _install(web: httpx.AsyncClient, csrf: str, package: Path,
                   grants: list[str]) -> httpx.Response:
    consent = await _upload_package(web, csrf, package)
    assert consent.status_code == 200, consent.text
    token = re.search(r'name="token" value="([^"]+)"', consent.text)
    assert token
    return await web.post("/console/install/confirm", data={
        "csrf_token": csrf, "token": token.group(1), "decision": "install", "grant": grants})


async def test_consent_lists_permissions_and_hosts_and_grants_only_the_chosen(
    web: httpx.AsyncClient, admin_user: TestUser, console_app: FastAPI, data_dir: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    consent = await _upload_package(web, csrf, analyzer_ppx(data_dir))

    for name in ("files", "metadata", "http", "api.acme.example"):
        assert name in consent.text
    assert await console_app.state.plugin_service.list_plugins(
        admin_user.principal.org_id, status=None, type_=None, category=None, q=None, page=1,
        limit=10) == ([], 0), "nothing is installed before consent"

    token = re.search(r'name="token" value="([^"]+)"', consent.text)
    assert token
    done = await web.post("/console/install/confirm", data={
        "csrf_token": csrf, "token": token.group(1), "decision": "install",
        "grant": ["files", "metadata"]})
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/plugins/{PID}?installed=1#configuration"
    detail = await console_app.state.plugin_service.get_plugin(admin_user.principal.org_id, PID)
    granted = {p.name for p in detail.permissions if p.granted}
    assert granted == {"files", "metadata"}
    assert detail.status == "needs_configuration"
    # The staged upload is single-use.
    again = await web.post("/console/install/confirm", data={
        "csrf_token": csrf, "token": token.group(1), "decision": "install"})
    assert again.status_code == 422


async def test_the_config_form_is_generated_validated_and_never_shows_a_secret(
    web: httpx.AsyncClient, admin_user: TestUser, console_app: FastAPI, data_dir: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    await _install(web, csrf, analyzer_ppx(data_dir), ["files", "metadata"])
    page = (await web.get(f"/console/plugins/{PID}")).text

    assert 'id="cfg-endpoint"' in page
    assert 'type="password"' in page
    assert '<option value="thorough"' in page
    assert 'type="checkbox"' in page
    assert 'min="0"' in page
    assert 'max="5"' in page
    assert "not set" in page

    bad = await web.post(f"/console/plugins/{PID}/config", data={
        "csrf_token": csrf, "endpoint": "short", "apiKey": "tiny-secret-val", "retries": "9",
        "mode": "fast"})
    assert bad.status_code == 422
    # Each error sits next to its field; the secret's value is never echoed.
    assert 'id="cfg-endpoint-error"' in bad.text
    assert 'id="cfg-retries-error"' in bad.text
    assert 'id="cfg-apiKey-error"' in bad.text
    assert "tiny-secret-val" not in bad.text

    secret = "s3cret-value-0123456789"
    ok = await web.post(f"/console/plugins/{PID}/config", data={
        "csrf_token": csrf, "endpoint": "https://hooks.acme.example", "apiKey": secret,
        "retries": "3", "mode": "thorough", "verbose": "on"})
    assert ok.status_code == 303
    config = await console_app.state.plugin_service.get_plugin_config(
        admin_user.principal.org_id, PID)
    assert config.values["retries"] == 3
    assert config.values["verbose"] is True
    shown = (await web.get(f"/console/plugins/{PID}")).text
    assert secret not in shown
    assert ">set<" in shown

    # Saving again with the secret left empty keeps it.
    kept = await web.post(f"/console/plugins/{PID}/config", data={
        "csrf_token": csrf, "endpoint": "https://hooks.acme.example/v2", "apiKey": "",
        "retries": "1", "mode": "fast"})
    assert kept.status_code == 303
    detail = await console_app.state.plugin_service.get_plugin(admin_user.principal.org_id, PID)
    assert detail.status == "installed"


async def test_load_unload_metrics_events_and_a_photo_with_its_results(
    web: httpx.AsyncClient, admin_user: TestUser, data_dir: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    await _install(web, csrf, analyzer_ppx(data_dir), ["files", "metadata"])
    await web.post(f"/console/plugins/{PID}/config", data={
        "csrf_token": csrf, "endpoint": "https://hooks.acme.example",
        "apiKey": "s3cret-value-0123456789"})

    loaded = await web.post(f"/console/plugins/{PID}/load", data={"csrf_token": csrf},
                            headers={"HX-Request": "true"})
    assert loaded.status_code == 200
    assert "Unload" in loaded.text

    photo = gps_jpeg(data_dir / "photo.jpg")
    with photo.open("rb") as fh:
        up = await web.post("/console/photos", data={"csrf_token": csrf},
                            files={"file": ("photo.jpg", fh, "image/jpeg")})
    assert up.status_code == 303
    result = await web.get(up.headers["location"])
    assert result.status_code == 200
    assert PID in result.text
    assert "hasGps" in result.text
    image = await web.get(up.headers["location"] + "/content")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"

    detail = await web.get(f"/console/plugins/{PID}")
    assert 'data-series="' in detail.text
    assert "loaded" in detail.text
    events = await web.get(f"/console/plugins/{PID}/events")
    assert "loaded" in events.text
    assert "installed" in events.text

    unloaded = await web.post(f"/console/plugins/{PID}/unload", data={"csrf_token": csrf})
    assert unloaded.status_code == 303


async def test_a_script_in_a_plugin_description_is_inert_text(
    web: httpx.AsyncClient, admin_user: TestUser, data_dir: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    consent = await _upload_package(web, csrf, analyzer_ppx(data_dir))
    await _install(web, csrf, analyzer_ppx(data_dir), ["files"])
    detail = await web.get(f"/console/plugins/{PID}")

    for html in (consent.text, detail.text):
        found = scripts_of(html)
        assert found.inline == 0
        assert found.handlers == []
        assert found.javascript_urls == []
        assert all(src.startswith("/static/") for src in found.srcs)
        assert "&lt;script&gt;" in html
        assert "<strong>bold</strong>" in html


async def test_members_see_no_admin_controls_and_cannot_act(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, data_dir: Path,
) -> None:
    from tests.fixtures.app import create_test_user

    csrf = await sign_in(web, admin_user.email)
    await _install(web, csrf, analyzer_ppx(data_dir), ["files"])
    member = await create_test_user(console_app, org=admin_user.org_slug, role="member")
    web.cookies.clear()
    member_csrf = await sign_in(web, member.email)

    page = await web.get(f"/console/plugins/{PID}")
    assert page.status_code == 200
    assert "Save configuration" not in page.text
    refused = await web.post(f"/console/plugins/{PID}/load", data={"csrf_token": member_csrf})
    assert refused.status_code == 403
    assert csrf_of(page.text) == member_csrf
