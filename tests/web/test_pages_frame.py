"""Every console page: the strict CSP, no inline script or handler, kept out of the OpenAPI
document, hostile query strings, paths and bodies answered without a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from proofpix_plugins.kit.security_headers import CONSOLE_CSP
from proofpix_plugins.web.assets import asset_url
from tests.fixtures.app import StartApp, TestUser, build_test_settings
from tests.web.conftest import browser_client
from tests.web.console_client import scripts_of, sign_in
from tests.web.packages import analyzer_ppx

PAGES = ["/", "/console/plugins", "/console/install", "/console/photos",
         "/console/plugins/acme.web-analyzer"]


def _directives(csp: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in csp.split(";")) if part}


async def test_pages_carry_a_strict_csp_and_run_no_inline_script(
    web: httpx.AsyncClient, admin_user: TestUser, data_dir: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    package = analyzer_ppx(data_dir)
    with package.open("rb") as fh:
        consent = await web.post("/console/install", data={"csrf_token": csrf},
                                 files={"file": ("p.ppx", fh, "application/zip")})
    staged = consent.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    await web.post("/console/install/confirm", data={"csrf_token": csrf, "token": staged})

    for path in PAGES:
        response = await web.get(path)
        assert response.status_code == 200, path
        csp = _directives(response.headers["content-security-policy"])
        assert csp["script-src"] == "'self'"
        assert csp["frame-ancestors"] == "'none'"
        assert csp["default-src"] == "'none'"
        assert "unsafe" not in response.headers["content-security-policy"]
        found = scripts_of(response.text)
        assert (found.inline, found.handlers, found.javascript_urls) == (0, [], []), path
        assert 'name="csrf_token"' in response.text or path == "/console/plugins"
        assert "X-CSRF-Token" in response.text, "htmx requests send the token"
    assert response.headers["content-security-policy"] == CONSOLE_CSP


async def test_the_sign_in_page_is_as_strict(frame: httpx.AsyncClient) -> None:
    response = await frame.get("/login")
    assert response.headers["content-security-policy"] == CONSOLE_CSP
    found = scripts_of(response.text)
    assert (found.inline, found.handlers) == (0, [])


async def test_console_routes_are_not_api_operations(frame_app: FastAPI) -> None:
    paths = frame_app.openapi()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith(("/console", "/login", "/logout"))]


async def test_signed_out_visitors_are_sent_to_sign_in(frame: httpx.AsyncClient) -> None:
    for path in ("/console/plugins", "/console/photos", "/console/install"):
        response = await frame.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/console/")
    htmx = await frame.get("/console/plugins", headers={"HX-Request": "true"})
    assert htmx.status_code == 204
    assert htmx.headers["hx-redirect"].startswith("/login")


@pytest.mark.parametrize("path", [
    "/console/plugins?page=-1&status=%00&q=" + "x" * 5000,
    "/console/plugins?page=99999999999999999999&status=loaded",
    "/console/plugins?page=abc&q=%27%22%3Cscript%3E",
    "/console/plugins/..%2F..%2Fetc",
    "/console/plugins/acme.none",
    "/console/plugins/" + "a" * 300,
    "/console/plugins/acme.none/events",
    "/console/photos/not-a-uuid",
    "/console/photos/00000000-0000-0000-0000-000000000000",
    "/console/photos/00000000-0000-0000-0000-000000000000/content?variant=../../x",
    "/login?next=%0d%0aSet-Cookie:x=1",
])
async def test_hostile_reads_never_fail_the_server(
    web: httpx.AsyncClient, admin_user: TestUser, path: str,
) -> None:
    await sign_in(web, admin_user.email)
    response = await web.get(path)
    assert response.status_code < 500, response.text
    assert "<script>" not in response.text.split("</head>", 1)[-1].replace(
        '<script src="', "")


async def test_hostile_writes_never_fail_the_server(
    web: httpx.AsyncClient, admin_user: TestUser, data_dir: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    package = analyzer_ppx(data_dir)
    with package.open("rb") as fh:
        consent = await web.post("/console/install", data={"csrf_token": csrf},
                                 files={"file": ("p.ppx", fh, "application/zip")})
    staged = consent.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    await web.post("/console/install/confirm", data={"csrf_token": csrf, "token": staged})
    pid = "acme.web-analyzer"
    attempts = [
        ("/console/plugins/acme.web-analyzer/config", {"csrf_token": csrf, "retries": "1e999",
                                                      "mode": "nope", "endpoint": "\x00" * 10}),
        ("/console/plugins/acme.web-analyzer/config", {"csrf_token": csrf, "retries": "9" * 400,
                                                      "apiKey": "x" * 70000}),
        ("/console/plugins/acme.web-analyzer/config", {"csrf_token": csrf,
                                                      **{f"f{i}": "x" for i in range(500)}}),
        (f"/console/plugins/{pid}/load", {"csrf_token": csrf}),  # needs configuration: 409
        ("/console/install/confirm", {"csrf_token": csrf, "token": "../../../etc/passwd"}),
        ("/console/install/confirm", {"csrf_token": csrf, "token": "A" * 43}),
        ("/console/plugins/acme.nothing/unload", {"csrf_token": csrf}),
        ("/login", {"csrf_token": csrf, "email": "x" * 10000, "password": ""}),
    ]
    for path, form in attempts:
        response = await web.post(path, data=form)
        assert response.status_code < 500, (path, response.text[:500])
    for body, ctype in [(b"--x\r\nbroken", "multipart/form-data; boundary=x"),
                        (b"PK\x03\x04garbage", "multipart/form-data"),
                        (b"{}", "application/json")]:
        for path in ("/console/install", "/console/photos"):
            response = await web.post(path, content=body, headers={"content-type": ctype})
            assert response.status_code < 500, (path, response.text[:500])
    with (data_dir / "fake.ppx").open("wb") as fh:
        fh.write(b"PK\x03\x04 but not a zip at all")
    with (data_dir / "fake.ppx").open("rb") as fh:
        bad = await web.post("/console/install", data={"csrf_token": csrf},
                             files={"file": ("fake.ppx", fh, "application/zip")})
    assert 400 <= bad.status_code < 500
    with (data_dir / "fake.ppx").open("rb") as fh:
        photo = await web.post("/console/photos", data={"csrf_token": csrf},
                               files={"file": ("x.jpg", fh, "image/jpeg")})
    assert 400 <= photo.status_code < 500


async def test_console_pages_spend_the_default_read_budget(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp,
) -> None:
    # Without it a client could hammer the server-rendered pages (each a search, a listing or
    # a plugin read) where the API's own GETs would answer 429.
    settings = build_test_settings(sqlite_db_url, tmp_path / "data", rate_limit_default="3/minute")
    async with start_app(settings) as app, browser_client(app) as client:
        answers = [await client.get("/") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[0].headers["ratelimit-limit"] == "3"
        assert int(answers[-1].headers["retry-after"]) >= 1
        # The static files are not pages: never limited.
        assert (await client.get(asset_url("console/console.css"))).status_code == 200
