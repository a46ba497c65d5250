"""Small row builders shared by the data-layer tests."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models import Organization, User


async def make_org(session: AsyncSession, slug: str | None = None) -> Organization:
    org = Organization(name="Acme", slug=slug or f"acme-{uuid.uuid4().hex[:8]}")
    session.add(org)
    await session.flush()
    return org


async def make_user(session: AsyncSession, email: str | None = None) -> User:
    user = User(email=email or f"u{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
    session.add(user)
    await session.flush()
    return user
