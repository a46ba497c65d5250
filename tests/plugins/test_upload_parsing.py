"""Malformed multipart uploads on both upload routes: a clear 4xx naming the field and the rule,
and no spooled file left behind (issue 10: L1, L11; first-hour 13)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from proofpix_plugins.config import Settings
from tests.fixtures.app import StartApp, TestUser, build_test_settings, client_for, create_test_user
from tests.plugins.test_files_api import png_bytes

ROUTES = ["/api/files", "/api/plugins/install"]


@pytest.fixture
async def sqlite_platform(
    sqlite_db_url: str, data_dir: Path, start_app: StartApp
) -> AsyncIterator[FastAPI]:
    # Parsing does not depend on the database: one engine is enough here.
    settings: Settings = build_test_settings(sqlite_db_url, data_dir / "data")
    async with start_app(settings, platform=True) as application:
        yield application


@pytest.fixture
async def http(sqlite_platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sqlite_platform) as c:
        yield c


@pytest.fixture
async def user(sqlite_platform: FastAPI) -> TestUser:
    return await create_test_user(sqlite_platform, tier="enterprise", role="admin")


def spooled(app: FastAPI) -> list[Path]:
    """Every file left in the upload spool (this process's root and any other)."""
    return [p for p in app.state.upload_spool.base.rglob("*") if p.is_file()]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_boundary_over_256_characters_is_a_400_and_spools_nothing(
    http: httpx.AsyncClient, user: TestUser, sqlite_platform: FastAPI, route: str
) -> None:
    boundary = "B" * 300
    r = await http.post(route, content=f"--{boundary}\r\n".encode() + b"x" * 100, headers={
        **user.headers, "content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    [error] = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("content-type", "boundary")
    assert spooled(sqlite_platform) == []


@pytest.mark.parametrize("route", ROUTES)
async def test_a_file_sent_under_another_field_name_is_a_422_naming_file(
    http: httpx.AsyncClient, user: TestUser, sqlite_platform: FastAPI, route: str
) -> None:
    # Larger than a text field may be: the answer must not be "field 'photo' exceeds ...".
    r = await http.post(route, files={"photo": ("p.jpg", b"\xff" * 100_000, "image/jpeg")},
                        headers=user.headers)
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("file", "required")
    assert "'photo'" in r.json()["detail"]
    assert spooled(sqlite_platform) == []


@pytest.mark.parametrize("route", ROUTES)
async def test_a_body_without_its_closing_boundary_is_a_400_and_spools_nothing(
    http: httpx.AsyncClient, user: TestUser, sqlite_platform: FastAPI, route: str
) -> None:
    body = (b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + png_bytes())
    r = await http.post(route, content=body, headers={
        **user.headers, "content-type": "multipart/form-data; boundary=XYZ"})
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("body", "truncated")
    assert spooled(sqlite_platform) == []
    # The same body, closed, is accepted as far as the parser goes.
    r = await http.post(route, content=body + b"\r\n--XYZ--\r\n", headers={
        **user.headers, "content-type": "multipart/form-data; boundary=XYZ"})
    assert r.status_code in (201, 415), r.text  # 415 on install: a PNG is no .ppx


async def test_a_file_part_without_a_filename_is_still_the_file(
    http: httpx.AsyncClient, user: TestUser
) -> None:
    body = (b'--XYZ\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + png_bytes()
            + b"\r\n--XYZ--\r\n")
    r = await http.post("/api/files", content=body, headers={
        **user.headers, "content-type": "multipart/form-data; boundary=XYZ"})
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "upload"


async def test_control_and_bidi_characters_are_removed_from_upload_filenames(
    api: httpx.AsyncClient, admin: TestUser
) -> None:
    # Runs on PostgreSQL too, where a NUL in a text column is an error.
    for sent, stored in (
        ("a\x00b\x01c\x7f\x9f.png", "abc.png"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),
        ("C:\\Users\\me\\holiday.png", "holiday.png"),
        ("../../etc/passwd", "passwd"),
        ("\x00\x1b", "upload"),
        ("e\u0301t\u00e9.png", "\u00e9t\u00e9.png"),  # NFC
    ):
        # Built by hand: httpx would percent-encode the control characters.
        body = (b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="'
                + sent.encode() + b'"\r\n\r\n' + png_bytes() + b"\r\n--XYZ--\r\n")
        r = await api.post("/api/files", content=body, headers={
            **admin.headers, "content-type": "multipart/form-data; boundary=XYZ"})
        assert r.status_code == 201, (sent, r.text)
        assert r.json()["filename"] == stored, sent
