"""A running platform (blob store, job runner, platform key) and developers with API keys.

- ``mp``: the app with the plugin platform started (the job runner polls every 50 ms).
- ``api``: an HTTP client on it.
- ``make_developer``: ``await make_developer("acme", verified=True)`` creates a user, the
  developer row and an API key (rows written directly, with ``developers.api_keys``) and
  returns a ``Dev`` with ``headers`` for ``X-API-Key``.
- ``ppx_dir``: where tests build packages (``tests/plugins/builders.py``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.developers.api_keys import display_prefix, key_digest, new_key
from proofpix_plugins.models.marketplace import ApiKey, Developer, DeveloperSigningKey
from tests.fixtures.app import StartApp, build_test_settings, client_for, create_test_user
from tests.waiting import eventually

FINAL = ("published", "in_review", "rejected")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under /tmp, traversable: the sandbox's scratch root refuses a 0700 ancestor (pytest's).
    path = Path(tempfile.mkdtemp(prefix="ppx-mp-", dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103 - plugin uids traverse, never list
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def mp_settings(db_url: str, data_dir: Path) -> Settings:
    return build_test_settings(db_url, data_dir / "data", jobs_poll_seconds=0.05,
                               plugin_metrics_flush_seconds=3600)


@pytest.fixture
async def mp(mp_settings: Settings, start_app: StartApp) -> AsyncIterator[FastAPI]:
    async with start_app(mp_settings, platform=True) as application:
        yield application


@pytest.fixture
async def api(mp: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(mp) as c:
        yield c


@pytest.fixture
def ppx_dir(tmp_path: Path) -> Path:
    path = tmp_path / "packages"
    path.mkdir()
    return path


@dataclass
class Dev:
    id: uuid.UUID
    user_id: uuid.UUID
    namespace: str
    key: str
    key_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


MakeDeveloper = Callable[..., Awaitable[Dev]]


async def add_api_key(
    app: FastAPI, developer_id: uuid.UUID, *, scopes: tuple[str, ...] = ("publish", "read"),
    expires_at: datetime | None = None, revoked_at: datetime | None = None,
) -> tuple[str, uuid.UUID]:
    key = new_key()
    row_id = uuid.uuid4()
    async with session_scope(app.state.session_factory) as session:
        session.add(ApiKey(id=row_id, developer_id=developer_id, name="test",
                           prefix=display_prefix(key), key_hash=key_digest(key),
                           scopes=list(scopes), expires_at=expires_at, revoked_at=revoked_at))
    return key, row_id


async def create_developer(
    app: FastAPI, namespace: str | None = None, *, verified: bool = True,
    scopes: tuple[str, ...] = ("publish", "read"), **key: Any,
) -> Dev:
    user = await create_test_user(app)
    ns = namespace or f"dev{uuid.uuid4().hex[:8]}"
    dev_id = uuid.uuid4()
    async with session_scope(app.state.session_factory) as session:
        session.add(Developer(id=dev_id, user_id=user.principal.user_id, namespace=ns,
                              skeleton=f"{ns}-{dev_id.hex}", display_name=ns,
                              verified=verified))
    secret, key_id = await add_api_key(app, dev_id, scopes=scopes, **key)
    return Dev(dev_id, user.principal.user_id, ns, secret, key_id)


@pytest.fixture
def make_developer(mp: FastAPI) -> MakeDeveloper:
    async def make(namespace: str | None = None, **options: Any) -> Dev:
        return await create_developer(mp, namespace, **options)

    return make


def new_signing_key() -> tuple[Ed25519PrivateKey, str, str]:
    """(private key, base64 raw public key, fingerprint) as developer signing keys store them."""
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    return private, base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest()


async def register_signing_key(
    app: FastAPI, dev: Dev, *, revoked_at: datetime | None = None
) -> Ed25519PrivateKey:
    private, public_b64, fingerprint = new_signing_key()
    async with session_scope(app.state.session_factory) as session:
        session.add(DeveloperSigningKey(developer_id=dev.id, name="ci", public_key=public_b64,
                                        fingerprint=fingerprint, revoked_at=revoked_at))
    return private


def sign_file(private: Ed25519PrivateKey, path: Path) -> str:
    """What ``proofpix-plugins plugin sign`` writes: base64 signature over the sha256."""
    from proofpix_plugins.packages.signing import signed_message

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return base64.b64encode(private.sign(signed_message(digest))).decode()


async def submit(
    api: httpx.AsyncClient, dev: Dev, ppx: Path, *, notes: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    data: dict[str, str] = {}
    if notes is not None:
        data["releaseNotes"] = notes
    if signature is not None:
        data["signature"] = signature
    return await api.post("/api/developers/plugins", headers=dev.headers, data=data,
                          files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})


async def settled(api: httpx.AsyncClient, dev: Dev, submission_id: str,
                  seconds: float = 60.0) -> dict[str, Any]:
    """The submission once the pipeline decided it."""

    async def probe() -> dict[str, Any] | None:
        r = await api.get(f"/api/developers/submissions/{submission_id}", headers=dev.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body if body["status"] in FINAL else None

    return await eventually(probe, what=f"submission {submission_id} decided", seconds=seconds,
                            interval=0.05)
