"""Every refused submission is a problem+json naming the field and rule, and leaves nothing:
no submission row, no job, so no reference to the uploaded bytes."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.jobs import Job
from proofpix_plugins.models.marketplace import Submission
from tests.fixtures.app import StartApp, client_for
from tests.marketplace.publishing.conftest import (
    Dev,
    MakeDeveloper,
    add_api_key,
    create_developer,
    register_signing_key,
    settled,
    sign_file,
    submit,
)
from tests.marketplace.publishing.test_publishing import package, publish_ok
from tests.plugins.builders import build_ppx, manifest

PROBLEM = "application/problem+json"


async def nothing_written(app: FastAPI, expected_submissions: int = 0) -> None:
    async with session_scope(app.state.session_factory) as session:
        subs = (await session.execute(select(func.count()).select_from(Submission))).scalar_one()
        jobs = (await session.execute(
            select(func.count()).select_from(Job).where(
                Job.name == "marketplace.process_submission"))).scalar_one()
    assert subs == expected_submissions
    assert jobs == expected_submissions


def problem(r: httpx.Response, status: int, field: str | None = None,
            rule: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    if field is not None:
        assert any(e["field"] == field and (rule is None or e.get("rule") == rule)
                   for e in body["errors"]), body
    return body


async def test_a_plugin_id_in_another_namespace_is_403_on_plugin_id(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer()
    victim = await make_developer()
    ppx = package(ppx_dir, victim)  # victim's namespace, submitted by dev
    problem(await submit(api, dev, ppx), 403, "pluginId", "namespace")
    await nothing_written(mp)


async def test_replayed_and_downgraded_versions_are_409(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    await publish_ok(api, dev, package(ppx_dir, dev, "1.2.0"))
    body = problem(await submit(api, dev, package(ppx_dir, dev, "1.2.0")), 409, "version",
                   "version-order")
    assert "replayed or downgraded" in body["detail"]
    problem(await submit(api, dev, package(ppx_dir, dev, "1.1.9")), 409, "version",
            "version-order")
    # The same new version twice while the first is still open: the second is a replay.
    unverified = await make_developer(verified=False)
    first = await submit(api, unverified, package(ppx_dir, unverified, "2.0.0"))
    assert first.status_code == 202
    problem(await submit(api, unverified, package(ppx_dir, unverified, "2.0.0")), 409,
            "version", "version-replay")
    await settled(api, unverified, first.json()["id"])
    await nothing_written(mp, expected_submissions=2)


async def test_malformed_uploads_are_refused_with_nothing_written(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer()
    not_zip = await api.post("/api/developers/plugins", headers=dev.headers,
                             files={"file": ("x.ppx", b"hello, not a zip", "application/zip")})
    problem(not_zip, 415, "file", "media-type")
    missing = await api.post("/api/developers/plugins", headers=dev.headers,
                             data={"releaseNotes": "no file"})
    assert missing.status_code in (415, 422), missing.text
    missing_file = await api.post("/api/developers/plugins", headers=dev.headers,
                                  files={"other": ("x", b"PK\x03\x04", "application/zip")})
    problem(missing_file, 422, "file")
    # A zip without a manifest: the archive rules answer, naming the rule.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("plugin/__init__.py", "x = 1\n")
    no_manifest = await api.post("/api/developers/plugins", headers=dev.headers,
                                 files={"file": ("x.ppx", buf.getvalue(), "application/zip")})
    assert no_manifest.status_code == 422, no_manifest.text
    assert no_manifest.json()["errors"]
    notes = await submit(api, dev, package(ppx_dir, dev), notes="x" * 10_001)
    problem(notes, 422, "releaseNotes", "max-length")
    await nothing_written(mp)


async def test_an_upload_over_the_limit_is_413(
    mp_settings: Settings, start_app: StartApp, ppx_dir: Path,
) -> None:
    small = mp_settings.model_copy(update={"max_upload_bytes": 100_000})
    async with start_app(small, platform=True) as app, client_for(app) as c:
        dev = await create_developer(app)
        ppx = package(ppx_dir, dev, "1.0.0")
        big = ppx_dir / "big.ppx"
        big.write_bytes(ppx.read_bytes() + b"\0" * 200_000)  # still starts like a zip
        problem(await submit(c, dev, big), 413)
        await nothing_written(app)


async def test_expired_revoked_and_read_only_keys_cannot_submit(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer()
    ppx = package(ppx_dir, dev)
    expired, _ = await add_api_key(mp, dev.id, expires_at=utcnow() - timedelta(minutes=1))
    revoked, _ = await add_api_key(mp, dev.id, revoked_at=utcnow() - timedelta(minutes=1))
    read_only, _ = await add_api_key(mp, dev.id, scopes=("read",))
    for key, status in ((expired, 401), (revoked, 401), (read_only, 403),
                        ("ppxk_not-a-key", 401)):
        other = Dev(dev.id, dev.user_id, dev.namespace, key, dev.key_id)
        problem(await submit(api, other, ppx), status)
    no_key = await api.post("/api/developers/plugins",
                            files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})
    problem(no_key, 401)
    await nothing_written(mp)


async def test_once_a_signing_key_exists_submissions_must_be_signed_by_an_active_key(
    mp: FastAPI, api: httpx.AsyncClient, make_developer: MakeDeveloper, ppx_dir: Path,
) -> None:
    dev = await make_developer(verified=True)
    ppx = package(ppx_dir, dev)
    revoked_key = await register_signing_key(mp, dev, revoked_at=utcnow())
    # Only a revoked key: its (valid) signature is refused, never silently accepted.
    problem(await submit(api, dev, ppx, signature=sign_file(revoked_key, ppx)), 422,
            "signature", "PPX-SIG-INVALID")
    active = await register_signing_key(mp, dev)
    problem(await submit(api, dev, ppx), 400, "signature", "signature-required")
    stranger = await register_signing_key(mp, await make_developer())
    problem(await submit(api, dev, ppx, signature=sign_file(stranger, ppx)), 422, "signature",
            "PPX-SIG-INVALID")
    problem(await submit(api, dev, ppx, signature="not base64!"), 422, "signature")
    problem(await submit(api, dev, ppx, signature=sign_file(revoked_key, ppx)), 422,
            "signature", "PPX-SIG-INVALID")
    await nothing_written(mp)

    good = await submit(api, dev, ppx, signature=sign_file(active, ppx))
    assert good.status_code == 202, good.text
    done = await settled(api, dev, good.json()["id"])
    assert done["status"] == "published"


async def test_submissions_are_rate_limited_with_a_problem(
    mp_settings: Settings, start_app: StartApp, ppx_dir: Path,
) -> None:
    limited = mp_settings.model_copy(update={"rate_limit_uploads": "2/minute"})
    async with start_app(limited, platform=True) as app, client_for(app) as c:
        dev = await create_developer(app)
        # An id outside the developer's namespace: each attempt is refused, and still counted.
        ppx = build_ppx(ppx_dir, manifest("someoneelse.tool", "1.0.0"), "x = 1\n")
        codes = [(await submit(c, dev, ppx)).status_code for _ in range(2)]
        assert codes == [403, 403]
        r = await submit(c, dev, ppx)
        problem(r, 429)
        assert "retry-after" in r.headers
        await nothing_written(app)
