"""Accounts logic: registration, login, refresh-token rotation with reuse detection, logout.

Services never commit: the request's session dependency (or the CLI's ``session_scope``) owns
the transaction. Password hashing runs in a worker thread so it never stalls the event loop.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.accounts.passwords import Passwords
from proofpix_plugins.accounts.repository import AccountRepository
from proofpix_plugins.accounts.tokens import AccessTokens, hash_refresh_token, new_refresh_token
from proofpix_plugins.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unauthorized,
)
from proofpix_plugins.models.accounts import (
    Membership,
    Organization,
    RefreshToken,
    Role,
    Tier,
    User,
)

# The same answer for an unknown email and a wrong password: nothing tells which one it was.
BAD_CREDENTIALS = "email or password is incorrect"


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token came back: its whole family was revoked (likely theft)."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Account:
    user: User
    membership: Membership
    organization: Organization


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:48].strip("-") or "org"


class AccountService:
    def __init__(
        self,
        session: AsyncSession,
        passwords: Passwords,
        access_tokens: AccessTokens,
        refresh_ttl_seconds: int,
    ) -> None:
        self.repo = AccountRepository(session)
        self.passwords = passwords
        self.access_tokens = access_tokens
        self.refresh_ttl = timedelta(seconds=refresh_ttl_seconds)

    # -- accounts -------------------------------------------------------------------------

    async def register(self, *, email: str, password: str, name: str) -> Account:
        """A user and their personal ``free`` organization, which they own."""
        return await self.create_account(
            email=email, password=password, name=name, org_name=None, tier=Tier.free,
            role=Role.owner, platform_admin=False,
        )

    async def create_account(
        self,
        *,
        email: str,
        password: str,
        name: str,
        org_name: str | None,
        tier: Tier | None,
        role: Role,
        platform_admin: bool,
    ) -> Account:
        """Create a user and their membership; ``org_name`` joins (or creates) that organization.

        ``tier`` applies to a newly created organization, or updates an existing one when given.
        """
        email = email.strip().lower()
        if await self.repo.email_taken(email):
            raise _duplicate_email()
        password_hash = await anyio.to_thread.run_sync(self.passwords.hash, password)
        user = User(email=email, password_hash=password_hash, name=name.strip(),
                    is_platform_admin=platform_admin, is_active=True)
        org: Organization | None = None
        if org_name is not None:
            found = await self.repo.organization_by_ref(org_name)
            if len(found) > 1:
                raise Conflict(
                    detail=f"{len(found)} organizations are named {org_name!r}; use a slug",
                    errors=(FieldError("org", "ambiguous organization name", "unique"),),
                )
            org = found[0] if found else None
            if org is not None and tier is not None:
                org.tier = tier
        if org is None:
            org = Organization(
                name=(org_name or name or email.split("@", 1)[0]).strip()[:200],
                slug=await self._free_slug(
                    org_name or name or email.split("@", 1)[0], personal=org_name is None
                ),
                tier=tier or Tier.free,
            )
        membership = Membership(user=user, organization=org, role=role)
        try:
            await self.repo.add(user, org, membership)
        except IntegrityError as exc:
            # A concurrent request took the address (or, rarely, the slug) after the checks.
            if "email" in str(exc.orig).lower():
                raise _duplicate_email() from None
            retry = "a concurrent request created the same organization; retry"
            raise Conflict(detail=retry) from None
        return Account(user, membership, org)

    async def _free_slug(self, base_text: str, *, personal: bool = False) -> str:
        """A unique slug; personal organizations always get a random suffix, so two people of
        the same name registering at once do not collide on the unique slug."""
        base = slugify(base_text)
        if not personal and not await self.repo.slug_taken(base):
            return base
        for _ in range(5):
            candidate = f"{base}-{secrets.token_hex(3)}"
            if not await self.repo.slug_taken(candidate):
                return candidate
        return f"{base}-{uuid.uuid4().hex}"

    async def set_tier(self, org_ref: str, tier: Tier) -> Organization:
        found = await self.repo.organization_by_ref(org_ref)
        if not found:
            raise NotFound(detail=f"no organization with slug or name {org_ref!r}")
        if len(found) > 1:
            raise Conflict(detail=f"{len(found)} organizations are named {org_ref!r}; use a slug")
        found[0].tier = tier
        await self.repo.session.flush()
        return found[0]

    async def set_password(self, user_id: uuid.UUID, password: str) -> None:
        """A new password ends every session: all refresh tokens of the user are revoked."""
        user = await self.repo.user_by_id(user_id)
        if user is None:
            raise NotFound(detail="no such user")
        user.password_hash = await anyio.to_thread.run_sync(self.passwords.hash, password)
        await self.repo.revoke_all_for_user(user_id, datetime.now(UTC))
        await self.repo.session.flush()

    async def account(self, user_id: uuid.UUID, org_id: uuid.UUID | None) -> Account | None:
        user = await self.repo.user_by_id(user_id)
        if user is None or not user.is_active:
            return None
        found = await self.repo.membership(user_id, org_id)
        if found is None:
            return None
        return Account(user, found[0], found[1])

    # -- tokens ---------------------------------------------------------------------------

    async def login(
        self, *, email: str, password: str, organization_id: uuid.UUID | None
    ) -> tuple[Account, TokenPair]:
        user = await self.repo.user_by_email(email)
        if user is None:
            # Spend the same time as a real check: response time must not reveal the email.
            await anyio.to_thread.run_sync(self.passwords.burn, password)
            raise Unauthorized(detail=BAD_CREDENTIALS)
        check = await anyio.to_thread.run_sync(self.passwords.verify, user.password_hash, password)
        if not check.ok or not user.is_active:
            raise Unauthorized(detail=BAD_CREDENTIALS)
        if check.needs_rehash:
            user.password_hash = await anyio.to_thread.run_sync(self.passwords.hash, password)
        found = await self.repo.membership(user.id, organization_id)
        if found is None:
            if organization_id is not None:
                raise Unauthorized(
                    detail="you are not a member of that organization",
                    errors=(FieldError("organizationId", "not a member of this organization",
                                       "membership"),),
                )
            raise Unauthorized(detail="this account belongs to no organization")
        account = Account(user, found[0], found[1])
        pair = await self._issue(account, family_id=uuid.uuid4())
        return account, pair

    async def refresh(self, presented: str) -> tuple[Account, TokenPair]:
        """Rotate ``presented``; a token seen twice revokes its family (RFC 9700 §4.14.2)."""
        now = datetime.now(UTC)
        stored = await self.repo.refresh_token_by_hash(hash_refresh_token(presented))
        if stored is None:
            raise Unauthorized(detail="the refresh token is invalid")
        if stored.rotated_at is not None:
            await self.repo.revoke_family(stored.family_id, now)
            raise RefreshTokenReused(
                detail="the refresh token was already used; every session of this login was "
                "revoked, sign in again"
            )
        if stored.revoked_at is not None:
            raise Unauthorized(detail="the refresh token was revoked")
        if stored.expires_at <= now:
            raise Unauthorized(detail="the refresh token has expired")
        account = await self.account(stored.user_id, stored.organization_id)
        if account is None:
            await self.repo.revoke_family(stored.family_id, now)
            raise RefreshTokenReused(detail="the account or its membership no longer exists")
        pair, new_row = await self._new_tokens(account, stored.family_id, now)
        if not await self.repo.mark_rotated(stored.id, new_row.id, now):
            # A concurrent refresh rotated it first: the same token was used twice.
            await self.repo.revoke_family(stored.family_id, now)
            raise RefreshTokenReused(detail="the refresh token was already used")
        return account, pair

    async def logout(self, user_id: uuid.UUID, presented: str | None) -> int:
        """Revoke the presented token's family, or every session of the user."""
        now = datetime.now(UTC)
        if presented is None:
            return await self.repo.revoke_all_for_user(user_id, now)
        stored = await self.repo.refresh_token_by_hash(hash_refresh_token(presented))
        # Someone else's token is treated as unknown: revoking it would be a denial of service.
        if stored is None or stored.user_id != user_id:
            return 0
        return await self.repo.revoke_family(stored.family_id, now)

    async def _issue(self, account: Account, family_id: uuid.UUID) -> TokenPair:
        pair, _ = await self._new_tokens(account, family_id, datetime.now(UTC))
        return pair

    async def _new_tokens(
        self, account: Account, family_id: uuid.UUID, now: datetime
    ) -> tuple[TokenPair, RefreshToken]:
        raw = new_refresh_token()
        row = RefreshToken(
            id=uuid.uuid4(),
            user_id=account.user.id,
            organization_id=account.organization.id,
            family_id=family_id,
            token_hash=hash_refresh_token(raw),
            issued_at=now,
            expires_at=now + self.refresh_ttl,
        )
        await self.repo.add(row)
        access = self.access_tokens.issue(
            user_id=account.user.id,
            org_id=account.organization.id,
            role=account.membership.role.value,
            tier=account.organization.tier.value,
            is_platform_admin=account.user.is_platform_admin,
            email=account.user.email,
            now=now,
            # Read with (or before) the role and tier above: a change committed in between
            # bumps the epoch past this value, so the token is re-checked, never trusted.
            epoch=account.user.auth_epoch,
        )
        return TokenPair(access, raw, self.access_tokens.ttl_seconds), row


def _duplicate_email() -> Conflict:
    return Conflict(
        detail="an account with this email already exists",
        errors=(FieldError("email", "already registered", "unique"),),
    )

