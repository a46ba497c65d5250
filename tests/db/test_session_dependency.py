"""The request dependency and session_scope own the transaction: commit, else roll back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import SessionDep, session_scope
from proofpix_plugins.models import Organization


def _app(factory: async_sessionmaker[AsyncSession]) -> FastAPI:
    app = FastAPI()
    app.state.session_factory = factory

    @app.post("/orgs/{slug}")
    async def create(slug: str, session: SessionDep) -> dict[str, str]:
        session.add(Organization(name=slug, slug=slug))
        await session.flush()
        return {"slug": slug}

    @app.post("/orgs/{slug}/then-http-error")
    async def create_then_http_error(slug: str, session: SessionDep) -> None:
        session.add(Organization(name=slug, slug=slug))
        await session.flush()
        raise HTTPException(status_code=409, detail="changed my mind")

    @app.post("/orgs/{slug}/then-crash")
    async def create_then_crash(slug: str, session: SessionDep) -> None:
        session.add(Organization(name=slug, slug=slug))
        await session.flush()
        raise RuntimeError("unexpected")

    @app.post("/orgs/{slug}/unflushed")
    async def create_unflushed(slug: str, session: SessionDep) -> dict[str, str]:
        # No flush: a constraint violation surfaces only when the dependency commits.
        session.add(Organization(name=slug, slug=slug))
        return {"slug": slug}

    return app


@pytest.fixture
async def client(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(session_factory), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def _org_count(factory: async_sessionmaker[AsyncSession], slug: str) -> int:
    async with factory() as s:
        n = await s.scalar(select(func.count()).where(Organization.slug == slug))
    return int(n or 0)


async def test_request_session_commits_when_the_endpoint_succeeds(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post("/orgs/kept")
    assert response.status_code == 200
    assert await _org_count(session_factory, "kept") == 1


async def test_request_session_rolls_back_on_http_error(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post("/orgs/gone/then-http-error")
    assert response.status_code == 409
    assert await _org_count(session_factory, "gone") == 0


async def test_request_session_rolls_back_on_unexpected_exception(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post("/orgs/crashed/then-crash")
    assert response.status_code == 500
    assert await _org_count(session_factory, "crashed") == 0


async def test_failed_commit_is_never_answered_as_success(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.post("/orgs/dup")).status_code == 200
    # The duplicate slug fails at commit time, which must happen before the response is sent.
    response = await client.post("/orgs/dup/unflushed")
    assert response.status_code == 500
    assert await _org_count(session_factory, "dup") == 1


async def test_session_scope_commits_when_the_block_completes(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_scope(session_factory) as s:
        s.add(Organization(name="x", slug="scoped"))
    assert await _org_count(session_factory, "scoped") == 1


async def test_session_scope_rolls_back_and_reraises_when_the_block_fails(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def fail_inside_scope() -> None:
        async with session_scope(session_factory) as s:
            s.add(Organization(name="x", slug="scoped-fail"))
            await s.flush()
            raise LookupError("boom")

    with pytest.raises(LookupError):
        await fail_inside_scope()
    assert await _org_count(session_factory, "scoped-fail") == 0


async def test_objects_stay_readable_after_commit(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_scope(session_factory) as s:
        org = Organization(name="Readable", slug="readable")
        s.add(org)
    # expire_on_commit=False: responses are shaped after the transaction has ended.
    assert org.name == "Readable"
    assert org.id is not None
