"""Developer profiles, their API keys and namespace verification.

Runs in the request's transaction (``SessionDep``); never commits. Inserts that can lose a race
(a namespace or skeleton another registration took a moment ago) run in a savepoint, so the
loser gets a 409 problem and the request transaction stays usable.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.developers import namespaces
from proofpix_plugins.developers.api_keys import display_prefix, key_digest, new_key
from proofpix_plugins.developers.namespaces import Rule
from proofpix_plugins.developers.skeleton import skeleton
from proofpix_plugins.errors import Conflict, FieldError, NotFound, ValidationFailed
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    ApiKey,
    ApiKeyScope,
    Developer,
    MarketplaceListing,
)

FIRST_KEY_NAME = "default"
FIRST_KEY_DAYS = 90
#: Active (unrevoked, unexpired) keys a developer may hold: enough for every CI system, few
#: enough that a compromised account cannot bury its keys among thousands.
MAX_ACTIVE_KEYS = 25


def no_profile() -> NotFound:
    return NotFound(detail="you have no developer profile: POST /api/developers/register first")


def _namespace_error(rule: Rule, message: str, value: str) -> FieldError:
    return FieldError("namespace", message, rule.value, value)


async def namespace_problems(session: AsyncSession, namespace: str) -> list[FieldError]:
    """Every reason ``namespace`` cannot be claimed (empty: it can, as of now)."""
    problems: list[FieldError] = []
    fmt = namespaces.format_problem(namespace)
    if fmt is not None:
        problems.append(_namespace_error(Rule.malformed, fmt, namespace))
    shape = skeleton(namespace)
    reserved = namespaces.reserved_match(shape)
    if reserved is not None:
        problems.append(_namespace_error(
            Rule.reserved, f"is reserved by the platform (it reads as {reserved!r})", namespace
        ))
    holder = (await session.execute(
        select(Developer.namespace).where(Developer.skeleton == shape)
    )).scalar_one_or_none()
    if holder is not None:
        if holder == namespace:
            problems.append(_namespace_error(Rule.taken, "is already taken", namespace))
        else:
            problems.append(_namespace_error(
                Rule.confusable, f"looks like the existing namespace {holder!r}", namespace
            ))
    elif reserved is None:
        verified = (await session.execute(
            select(Developer.namespace, Developer.skeleton).where(Developer.verified.is_(True))
        )).all()
        near = namespaces.similar_verified(shape, verified)
        if near is not None:
            problems.append(_namespace_error(
                Rule.similar, f"is too close to the verified namespace {near!r}", namespace
            ))
    return problems


def _raise_for(problems: Sequence[FieldError]) -> None:
    if not problems:
        return
    rules = {p.rule for p in problems}
    if rules & {Rule.malformed.value, Rule.reserved.value}:
        raise ValidationFailed(detail="this namespace cannot be registered", errors=problems)
    raise Conflict(detail="this namespace collides with another one", errors=problems)


class DeveloperService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def profile(self, user_id: uuid.UUID) -> Developer | None:
        return (await self.session.execute(
            select(Developer).where(Developer.user_id == user_id)
        )).scalar_one_or_none()

    async def require_profile(self, user_id: uuid.UUID) -> Developer:
        developer = await self.profile(user_id)
        if developer is None:
            raise no_profile()
        return developer

    async def register(
        self, user_id: uuid.UUID, namespace: str, display_name: str
    ) -> tuple[Developer, ApiKey, str]:
        """A new profile and its first key (publish + read, 90 days) with the key's secret."""
        if await self.profile(user_id) is not None:
            raise Conflict(detail="you already have a developer profile (one per user)")
        _raise_for(await namespace_problems(self.session, namespace))
        developer = Developer(
            user_id=user_id, namespace=namespace, skeleton=skeleton(namespace),
            display_name=display_name,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(developer)
                await self.session.flush()
        except IntegrityError as exc:
            # A concurrent registration won: same user, namespace or look-alike skeleton.
            if "user_id" in str(exc.orig).lower():
                raise Conflict(
                    detail="you already have a developer profile (one per user)"
                ) from None
            raise Conflict(detail="this namespace collides with another one", errors=[
                _namespace_error(Rule.confusable,
                                 "was just taken by a namespace that looks the same", namespace),
            ]) from None
        key, secret = await self.create_key(
            developer, FIRST_KEY_NAME, [ApiKeyScope.publish, ApiKeyScope.read], FIRST_KEY_DAYS
        )
        return developer, key, secret

    async def create_key(
        self, developer: Developer, name: str, scopes: Sequence[ApiKeyScope], days: int
    ) -> tuple[ApiKey, str]:
        now = utcnow()
        active = (await self.session.execute(
            select(func.count()).select_from(ApiKey).where(
                ApiKey.developer_id == developer.id,
                ApiKey.revoked_at.is_(None),
                (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now),
            )
        )).scalar_one()
        if active >= MAX_ACTIVE_KEYS:
            raise Conflict(detail=f"you already hold {MAX_ACTIVE_KEYS} active API keys; "
                           "revoke one first")
        secret = new_key()
        key = ApiKey(
            developer_id=developer.id,
            name=name,
            prefix=display_prefix(secret),
            key_hash=key_digest(secret),
            scopes=sorted({ApiKeyScope(s).value for s in scopes}),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        self.session.add(key)
        await self.session.flush()
        return key, secret

    async def list_keys(
        self, developer: Developer, *, offset: int, limit: int
    ) -> tuple[list[ApiKey], int]:
        where = ApiKey.developer_id == developer.id
        total = (await self.session.execute(
            select(func.count()).select_from(ApiKey).where(where)
        )).scalar_one()
        rows = (await self.session.execute(
            select(ApiKey).where(where)
            .order_by(ApiKey.created_at.desc(), ApiKey.id).offset(offset).limit(limit)
        )).scalars().all()
        return list(rows), total

    async def revoke_key(self, developer: Developer, key_id: uuid.UUID) -> None:
        """Revoke one of the developer's keys; revoking it again changes nothing."""
        key = (await self.session.execute(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.developer_id == developer.id)
        )).scalar_one_or_none()
        if key is None:
            # Another developer's key is indistinguishable from one that does not exist.
            raise NotFound(detail="no API key of yours has this id")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self.session.flush()

    async def set_verified(self, namespace: str, verified: bool, reason: str) -> Developer:
        """Verify or unverify a namespace, and its listings' denormalized badge with it."""
        developer = (await self.session.execute(
            select(Developer).where(Developer.namespace == namespace)
        )).scalar_one_or_none()
        if developer is None:
            raise NotFound(detail=f"no developer has the namespace {namespace!r}")
        developer.verified = verified
        developer.verified_at = utcnow()
        developer.verified_reason = reason
        await self.session.execute(
            update(MarketplaceListing)
            .where(MarketplaceListing.developer_id == developer.id)
            .values(verified=verified)
        )
        await self.session.flush()
        return developer
