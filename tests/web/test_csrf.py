"""Every state-changing console request needs the session's CSRF token: without it, or with
another session's, the answer is 403 and nothing happens."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures.app import TestUser
from tests.web.conftest import browser_client
from tests.web.console_client import csrf_of, sign_in
from tests.web.packages import analyzer_ppx

PID = "acme.web-analyzer"


async def test_login_without_the_token_is_refused(
    frame: httpx.AsyncClient, frame_user: TestUser,
) -> None:
    await frame.get("/login")
    done = await frame.post("/login", data={"email": frame_user.email,
                                            "password": frame_user.password})
    assert done.status_code == 403
    assert "Sign out" not in (await frame.get("/")).text


async def test_logout_without_the_token_keeps_the_session(
    frame: httpx.AsyncClient, frame_user: TestUser,
) -> None:
    await sign_in(frame, frame_user.email)
    assert (await frame.post("/logout")).status_code == 403
    assert "Sign out" in (await frame.get("/")).text


@pytest.mark.parametrize("token", [None, "", "forged", "other-session"])
async def test_plugin_actions_and_uploads_need_this_sessions_token(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, data_dir: Path,
    token: str | None,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    package = analyzer_ppx(data_dir, config_schema=None)
    if token == "other-session":
        async with browser_client(console_app) as other:
            token = csrf_of((await other.get("/login")).text)
    form = {} if token is None else {"csrf_token": token}
    headers = {} if token is None else {"X-CSRF-Token": token}

    with package.open("rb") as fh:
        upload = await web.post("/console/install", data=form,
                                files={"file": ("p.ppx", fh, "application/zip")})
    assert upload.status_code == 403

    # Installed by the real flow, then every action is tried without a valid token.
    with package.open("rb") as fh:
        consent = await web.post("/console/install", data={"csrf_token": csrf},
                                 files={"file": ("p.ppx", fh, "application/zip")})
    staged = consent.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    refused_install = await web.post("/console/install/confirm",
                                     data={**form, "token": staged, "decision": "install"})
    assert refused_install.status_code == 403
    assert (await web.post("/console/install/confirm", data={
        "csrf_token": csrf, "token": staged, "decision": "install"})).status_code == 303

    for path in (f"/console/plugins/{PID}/load", f"/console/plugins/{PID}/unload",
                 f"/console/plugins/{PID}/config"):
        assert (await web.post(path, data=form)).status_code == 403, path
        assert (await web.post(path, headers=headers)).status_code == 403, path
    with (data_dir / "packages-photo.bin").open("wb") as fh:
        fh.write(b"not an image")
    with (data_dir / "packages-photo.bin").open("rb") as fh:
        photo = await web.post("/console/photos", data=form,
                               files={"file": ("a.jpg", fh, "image/jpeg")})
    assert photo.status_code == 403
    detail = await console_app.state.plugin_service.get_plugin(admin_user.principal.org_id, PID)
    assert detail.status == "installed", "no refused request changed anything"


async def test_the_htmx_header_carries_the_token(
    web: httpx.AsyncClient, admin_user: TestUser, data_dir: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    package = analyzer_ppx(data_dir, config_schema=None)
    with package.open("rb") as fh:
        consent = await web.post("/console/install", data={"csrf_token": csrf},
                                 files={"file": ("p.ppx", fh, "application/zip")})
    staged = consent.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    await web.post("/console/install/confirm", data={"csrf_token": csrf, "token": staged})

    loaded = await web.post(f"/console/plugins/{PID}/load",
                            headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert loaded.status_code == 200
    assert "Unload" in loaded.text
