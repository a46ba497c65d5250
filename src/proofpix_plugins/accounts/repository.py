"""Every accounts query: users, organizations, memberships and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.accounts import Membership, Organization, RefreshToken, User


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email.strip().lower()))
        return result.scalar_one_or_none()

    async def user_by_id(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def email_taken(self, email: str) -> bool:
        found = await self.session.execute(
            select(User.id).where(User.email == email.strip().lower())
        )
        return found.first() is not None

    async def add(self, *rows: User | Organization | Membership | RefreshToken) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def slug_taken(self, slug: str) -> bool:
        found = await self.session.execute(
            select(Organization.id).where(Organization.slug == slug)
        )
        return found.first() is not None

    async def organization_by_ref(self, ref: str) -> list[Organization]:
        """Organizations whose slug is ``ref`` or, failing that, whose name is ``ref``."""
        result = await self.session.execute(
            select(Organization)
            .where(or_(Organization.slug == ref, func.lower(Organization.name) == ref.lower()))
            .order_by(Organization.created_at)
        )
        rows = list(result.scalars())
        by_slug = [o for o in rows if o.slug == ref]
        return by_slug or rows

    async def membership(
        self, user_id: uuid.UUID, org_id: uuid.UUID | None = None
    ) -> tuple[Membership, Organization] | None:
        """The user's membership in ``org_id``, or their oldest one when no org is named."""
        query = (
            select(Membership, Organization)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.user_id == user_id)
        )
        if org_id is not None:
            query = query.where(Membership.organization_id == org_id)
        query = query.order_by(Membership.created_at, Membership.id).limit(1)
        row = (await self.session.execute(query)).first()
        return (row[0], row[1]) if row is not None else None

    async def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        result = await self.session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def mark_rotated(
        self, token_id: uuid.UUID, replaced_by: uuid.UUID, now: datetime
    ) -> bool:
        """Rotate once: of two concurrent refreshes with one token, exactly one wins."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=now, replaced_by_id=replaced_by)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_all_for_user(self, user_id: uuid.UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
