"""Developers, API keys, marketplace listings, versions, reviews, download counters, submissions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proofpix_plugins.models.base import (
    Base,
    JSONType,
    UTCDateTime,
    bigint_pk,
    created_at,
    organization_fk,
    str_enum,
    updated_at,
    utcnow,
    uuid_pk,
)


class ListingStatus(StrEnum):
    active = "active"
    # Kill switch: hidden from search, installs refused, installed copies disabled with the reason.
    disabled = "disabled"


class SubmissionStatus(StrEnum):
    pending = "pending"
    scanning = "scanning"
    in_review = "in_review"
    published = "published"
    rejected = "rejected"


class Developer(Base):
    __tablename__ = "developers"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    namespace: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at()


class ApiKey(Base):
    """A developer API key, stored hashed; ``prefix`` is the visible part used to find it."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = uuid_pk()
    developer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("developers.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MarketplaceListing(Base):
    __tablename__ = "marketplace_listings"
    __table_args__ = (
        CheckConstraint("rating_avg >= 0 AND rating_avg <= 5", name="rating_avg_range"),
        CheckConstraint("rating_count >= 0", name="rating_count_non_negative"),
        CheckConstraint("downloads_total >= 0", name="downloads_non_negative"),
        CheckConstraint("installs_total >= 0", name="installs_non_negative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    plugin_id: Mapped[str] = mapped_column(String(100), unique=True)
    developer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("developers.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), index=True)
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    verified: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    featured_rank: Mapped[int | None] = mapped_column(Integer, index=True)
    latest_version: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ListingStatus] = mapped_column(
        str_enum(ListingStatus, "listing_status"), default=ListingStatus.active, index=True
    )
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    downloads_total: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    installs_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rating_avg: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )

    versions: Mapped[list[MarketplaceVersion]] = relationship(
        back_populates="listing", lazy="raise", passive_deletes=True
    )


class MarketplaceVersion(Base):
    __tablename__ = "marketplace_versions"
    __table_args__ = (UniqueConstraint("listing_id", "version"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    listing_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("marketplace_listings.id", ondelete="CASCADE")
    )
    version: Mapped[str] = mapped_column(String(64))
    artifact_sha256: Mapped[str] = mapped_column(String(64), index=True)
    signature: Mapped[str] = mapped_column(Text, default="")
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    permissions: Mapped[list[str]] = mapped_column(default=list)
    engines: Mapped[dict[str, Any]] = mapped_column(default=dict)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = created_at()

    listing: Mapped[MarketplaceListing] = relationship(back_populates="versions", lazy="raise")


class MarketplaceReview(Base):
    __tablename__ = "marketplace_reviews"
    __table_args__ = (
        UniqueConstraint("listing_id", "user_id"),
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    listing_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("marketplace_listings.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = organization_fk()
    rating: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MarketplaceDownload(Base):
    """Daily download and install counters per listing version, for developer analytics."""

    __tablename__ = "marketplace_downloads"
    __table_args__ = (
        UniqueConstraint("listing_id", "version", "day"),
        CheckConstraint("downloads >= 0 AND installs >= 0", name="counts_non_negative"),
        Index(None, "day"),
    )

    id: Mapped[int] = bigint_pk()
    listing_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("marketplace_listings.id", ondelete="CASCADE")
    )
    version: Mapped[str] = mapped_column(String(64))
    day: Mapped[date]
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    installs: Mapped[int] = mapped_column(Integer, default=0)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        Index(None, "status", "created_at"),
        Index(None, "developer_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    developer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("developers.id", ondelete="CASCADE")
    )
    plugin_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(64))
    artifact_sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[SubmissionStatus] = mapped_column(
        str_enum(SubmissionStatus, "submission_status"), default=SubmissionStatus.pending
    )
    scan_report: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    review_notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MarketplaceSearchTerm(Base):
    """One marketplace search, for the admin analytics of what people look for."""

    __tablename__ = "marketplace_search_terms"
    __table_args__ = (Index(None, "created_at"), Index(None, "term"))

    id: Mapped[int] = bigint_pk()
    term: Mapped[str] = mapped_column(String(200))
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    # Tenant of the searcher when known; searches are public, so it may be empty.
    organization_id: Mapped[uuid.UUID | None] = organization_fk(nullable=True)
    created_at: Mapped[datetime] = created_at()
