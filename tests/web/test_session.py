"""The console's cookie session: flags, rotation on login (fixation), logout, tampering,
renewal of an expired access token through the refresh token."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from proofpix_plugins.web.session import COOKIE, SECURE_COOKIE, ConsoleSession
from tests.fixtures.app import TestUser
from tests.web.conftest import browser_client
from tests.web.console_client import csrf_of, sign_in


def _set_cookie(response: httpx.Response) -> str:
    header = response.headers.get("set-cookie")
    assert header, "no cookie was set"
    return header


async def test_on_loopback_http_the_cookie_is_httponly_lax_and_not_secure(
    frame: httpx.AsyncClient,
) -> None:
    header = _set_cookie(await frame.get("/login"))

    assert header.startswith(f"{COOKIE}=")
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    assert "Secure" not in header


async def test_anywhere_else_it_is_secure_and_host_prefixed(frame_app: FastAPI) -> None:
    async with browser_client(frame_app, "http://console.example.com") as remote:
        plain = _set_cookie(await remote.get("/login"))
    async with browser_client(frame_app, "https://console.example.com") as tls:
        secure = _set_cookie(await tls.get("/login"))

    for header in (plain, secure):
        assert header.startswith(f"{SECURE_COOKIE}=")
        assert "Secure" in header
        assert "HttpOnly" in header
        assert "Path=/" in header


async def test_login_rotates_the_session_id_and_the_planted_one_stays_anonymous(
    frame_app: FastAPI, frame_user: TestUser,
) -> None:
    async with browser_client(frame_app) as victim:
        await victim.get("/login")
        planted = victim.cookies[COOKIE]  # what an attacker fixed before the victim signs in
        await sign_in(victim, frame_user.email)
        after = victim.cookies[COOKIE]

    before_sid = ConsoleSession.decode(planted)
    after_session = ConsoleSession.decode(after)
    assert before_sid is not None
    assert after_session is not None
    assert after_session.sid != before_sid.sid
    async with browser_client(frame_app) as attacker:
        attacker.cookies.set(COOKIE, planted)
        page = await attacker.get("/")
    assert "Sign out" not in page.text


async def test_logout_clears_the_cookie_and_revokes_its_refresh_token(
    frame_app: FastAPI, frame_user: TestUser,
) -> None:
    async with browser_client(frame_app) as browser:
        token = await sign_in(browser, frame_user.email)
        stolen = browser.cookies[COOKIE]
        out = await browser.post("/logout", data={"csrf_token": token})
        assert out.status_code == 303
        assert f'{COOKIE}=""' in out.headers["set-cookie"] or "Max-Age=0" in \
            out.headers["set-cookie"]
    session = ConsoleSession.decode(stolen)
    assert session is not None
    assert session.refresh_token is not None
    # A copy of the cookie taken before logout no longer renews: the family is revoked.
    expired = ConsoleSession(session.sid, None, session.refresh_token).encode()
    async with browser_client(frame_app) as thief:
        thief.cookies.set(COOKIE, expired)
        page = await thief.get("/")
    assert "Sign out" not in page.text


async def test_an_expired_access_token_is_renewed_from_the_refresh_token(
    frame_app: FastAPI, frame_user: TestUser,
) -> None:
    async with browser_client(frame_app) as browser:
        await sign_in(browser, frame_user.email)
        session = ConsoleSession.decode(browser.cookies[COOKIE])
        assert session is not None
        browser.cookies.clear()
        browser.cookies.set(COOKIE, ConsoleSession(session.sid, "not.a.jwt",
                                                   session.refresh_token).encode())
        page = await browser.get("/")
        renewed = ConsoleSession.decode(page.cookies[COOKIE])

    assert "Sign out" in page.text
    assert renewed is not None
    assert renewed.access_token not in (None, "not.a.jwt")
    assert renewed.refresh_token != session.refresh_token  # rotated, as the API rotates


async def test_garbage_cookies_are_an_anonymous_visitor_not_an_error(
    frame_app: FastAPI,
) -> None:
    for value in ["", "x", "%%%", "eyJzaWQiOjF9", "A" * 5000, "W10", "bnVsbA"]:
        async with browser_client(frame_app) as browser:
            browser.cookies.set(COOKIE, value)
            page = await browser.get("/")
            assert page.status_code == 200, value
            assert "Sign in" in page.text


async def test_wrong_password_is_refused_with_the_apis_answer(
    frame: httpx.AsyncClient, frame_user: TestUser,
) -> None:
    page = await frame.get("/login")
    done = await frame.post("/login", data={"email": frame_user.email, "password": "wrong",
                                            "csrf_token": csrf_of(page.text)})
    assert done.status_code == 401
    assert "Sign out" not in done.text


async def test_login_only_redirects_to_local_paths(
    frame: httpx.AsyncClient, frame_user: TestUser,
) -> None:
    for target in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]:
        frame.cookies.clear()
        page = await frame.get("/login")
        done = await frame.post("/login", data={
            "email": frame_user.email, "password": frame_user.password,
            "csrf_token": csrf_of(page.text), "next": target})
        assert done.status_code == 303
        assert done.headers["location"] == "/", target
