"""Drive the console over HTTP in process, as a browser would: cookies, forms, CSRF tokens."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from tests.fixtures.app import TEST_PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD) -> str:
    """Sign in through the login form; answers the CSRF token of the signed-in session."""
    page = await client.get("/login")
    assert page.status_code == 200
    done = await client.post("/login", data={"email": email, "password": password,
                                             "csrf_token": csrf_of(page.text), "next": "/"})
    assert done.status_code == 303, done.text
    home = await client.get("/")
    assert home.status_code == 200
    return csrf_of(home.text)


class Scripts(HTMLParser):
    """What a page would run: script elements (inline or not) and event-handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.inline: int = 0
        self.handlers: list[str] = []
        self.javascript_urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            src = values.get("src")
            if src:
                self.srcs.append(src)
            else:
                self._in_script = True
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag}.{name}")
            if name in ("href", "src", "action") and value and \
                    value.strip().lower().startswith("javascript:"):
                self.javascript_urls.append(value)

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def scripts_of(html: str) -> Scripts:
    parser = Scripts()
    parser.feed(html)
    return parser
