"""The marketplace submission client behind ``plugin publish``.

Contract (the server's ``/api/developers`` routes): ``POST {server}/api/developers/plugins``,
multipart ``file`` (the .ppx), optional ``releaseNotes`` and ``signature`` (base64, as
``plugin sign`` writes it), header ``X-API-Key`` → 202 ``{"id", "status", "pluginId",
"version", "statusUrl"}``; then ``GET {server}/api/developers/submissions/{id}`` until the
status is final (``published`` or ``rejected``) or waits on a person (``in_review``). Errors are
RFC 9457 problem details, which :class:`ServerError` keeps for printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

#: Statuses after which polling stops.
SETTLED: Final = frozenset({"published", "rejected", "in_review"})
USER_AGENT: Final = "proofpix-plugins-cli"


@dataclass
class ServerError(Exception):
    """The server answered an error (or could not be reached): exit code 1."""

    message: str
    status: int | None = None
    problem: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


def _problem(response: httpx.Response) -> ServerError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title") or response.reason_phrase
        return ServerError(f"HTTP {response.status_code}: {detail}", response.status_code, body)
    text = response.text[:300].strip()
    return ServerError(f"HTTP {response.status_code}: {text or response.reason_phrase}",
                       response.status_code)


class PublishClient:
    """Submit a package and follow its submission; every failure is a :class:`ServerError`."""

    def __init__(self, server: str, api_key: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base = server.rstrip("/")
        self._http = httpx.Client(
            timeout=timeout, transport=transport, follow_redirects=False,
            headers={"X-API-Key": api_key, "User-Agent": USER_AGENT,
                     "Accept": "application/json, application/problem+json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PublishClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach {self.base}: {exc}") from None
        if response.status_code >= 400:
            raise _problem(response)
        try:
            body = response.json()
        except ValueError:
            raise ServerError(f"HTTP {response.status_code}: the answer is not JSON",
                              response.status_code) from None
        if not isinstance(body, dict):
            raise ServerError("the answer is not a JSON object", response.status_code)
        return body

    def submit(self, ppx: Path, *, signature: str | None, release_notes: str | None,
               ) -> dict[str, Any]:
        data: dict[str, str] = {}
        if signature:
            data["signature"] = signature
        if release_notes:
            data["releaseNotes"] = release_notes
        with ppx.open("rb") as fh:
            body = self._send("POST", f"{self.base}/api/developers/plugins", data=data,
                              files={"file": (ppx.name, fh, "application/zip")})
        if not isinstance(body.get("id"), str):
            raise ServerError("the submission answer has no id")
        return body

    def status(self, submission_id: str) -> dict[str, Any]:
        return self._send("GET", f"{self.base}/api/developers/submissions/{submission_id}")

    def wait(self, submission_id: str, *, timeout_s: float, interval_s: float = 1.0,
             on_status: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Poll until the status settles or ``timeout_s`` passes (the last answer is returned)."""
        deadline = time.monotonic() + timeout_s
        while True:
            current = self.status(submission_id)
            if on_status is not None:
                on_status(current)
            if current.get("status") in SETTLED or time.monotonic() >= deadline:
                return current
            time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))
