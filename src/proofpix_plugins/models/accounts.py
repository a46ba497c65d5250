"""Users, organizations, memberships and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from proofpix_plugins.models.base import (
    Base,
    UTCDateTime,
    created_at,
    organization_fk,
    str_enum,
    utcnow,
    uuid_pk,
)


class Tier(StrEnum):
    """An organization's subscription plan; plugin features need ``enterprise``."""

    free = "free"
    pro = "pro"
    enterprise = "enterprise"


class Role(StrEnum):
    """A member's role in an organization; managing plugins needs ``admin`` or ``owner``."""

    owner = "owner"
    admin = "admin"
    member = "member"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Uniqueness is case-insensitive only if every row is stored lowercased.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bumped by database triggers whenever role, membership, tier, activity or platform-admin
    #: state of this user changes (migration 0003); access tokens carry it (accounts/epochs.py).
    auth_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )

    @validates("email")
    def _lowercase_email(self, _key: str, value: str) -> str:
        return value.strip().lower()


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    tier: Mapped[Tier] = mapped_column(str_enum(Tier, "tier"), default=Tier.free, index=True)
    created_at: Mapped[datetime] = created_at()

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="organization", lazy="raise", passive_deletes=True
    )


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = organization_fk()
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), default=Role.member)
    created_at: Mapped[datetime] = created_at()

    user: Mapped[User] = relationship(back_populates="memberships", lazy="raise")
    organization: Mapped[Organization] = relationship(back_populates="memberships", lazy="raise")


class RefreshToken(Base):
    """An opaque refresh token, stored only as a hash; one family per login.

    Rotation sets ``rotated_at`` and ``replaced_by_id``; presenting a rotated token again revokes
    every token of its ``family_id``.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = organization_fk()
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("refresh_tokens.id", ondelete="SET NULL")
    )
