"""The marketplace: developers and their keys, listings and versions, submissions, the
publication log, downloads, reviews, featured curation and search-term counts.

A listing exists once its first version is published; a submission is the record of one upload
through the pipeline (``pending -> scanning -> in_review | published | rejected``). Counters that
requests would bump (downloads, search terms) are written in batches into per-day rows, never one
write per request. Nothing here names who searched.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from proofpix_plugins.models.base import (
    Base,
    UTCDateTime,
    bigint_pk,
    created_at,
    str_enum,
    updated_at,
    uuid_pk,
)


class ApiKeyScope(StrEnum):
    """What a developer API key may do: ``publish`` submits versions, ``read`` reads status."""

    publish = "publish"
    read = "read"


class ListingStatus(StrEnum):
    """``suspended`` is the kill switch: hidden, never installable, every installation disabled."""

    active = "active"
    suspended = "suspended"


class VersionStatus(StrEnum):
    """``in_review``: a published version sent back to review (a re-scan now fails); hidden."""

    published = "published"
    in_review = "in_review"


class SubmissionStatus(StrEnum):
    """Where a submission is: ``pending`` -> ``scanning`` -> ``in_review`` / ``published`` /
    ``rejected``."""

    pending = "pending"
    scanning = "scanning"
    in_review = "in_review"
    published = "published"
    rejected = "rejected"


class LogAction(StrEnum):
    """What a publication-log entry records."""

    publish = "publish"
    yank = "yank"
    unyank = "unyank"
    suspend = "suspend"
    unsuspend = "unsuspend"
    review = "review"
    signing_key_added = "signing_key_added"
    signing_key_revoked = "signing_key_revoked"
    marketplace_key = "marketplace_key"


def _developer_fk() -> Any:
    return mapped_column(Uuid(), ForeignKey("developers.id", ondelete="CASCADE"), index=True)


def _listing_fk() -> Any:
    return mapped_column(
        Uuid(), ForeignKey("marketplace_listings.id", ondelete="CASCADE"), index=True
    )


class Developer(Base):
    """A user's publisher profile; ``namespace`` is the part of plugin ids before the dot."""

    __tablename__ = "developers"
    __table_args__ = (CheckConstraint("namespace = lower(namespace)", name="namespace_lowercase"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    namespace: Mapped[str] = mapped_column(String(64), unique=True)
    # The Unicode TR39 skeleton with separators removed: two namespaces that look alike share
    # it, and the unique index refuses the second even under concurrent registration.
    skeleton: Mapped[str] = mapped_column(String(256), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    verified: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class ApiKey(Base):
    """A developer API key: only its sha256 is stored; ``prefix`` is the non-secret lookup part."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = uuid_pk()
    developer_id: Mapped[uuid.UUID] = _developer_fk()
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeveloperSigningKey(Base):
    """An ed25519 public key; once one is active every submission must be signed by one."""

    __tablename__ = "developer_signing_keys"
    __table_args__ = (UniqueConstraint("developer_id", "fingerprint"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    developer_id: Mapped[uuid.UUID] = _developer_fk()
    name: Mapped[str] = mapped_column(String(100), default="")
    # Raw 32-byte key, base64; fingerprint is the sha256 hex of the raw key.
    public_key: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MarketplaceListing(Base):
    """One plugin id in the marketplace, with counters the search sorts on."""

    __tablename__ = "marketplace_listings"
    __table_args__ = (
        CheckConstraint("downloads_total >= 0", name="downloads_non_negative"),
        CheckConstraint("installs_total >= 0", name="installs_non_negative"),
        CheckConstraint("rating_avg >= 0 AND rating_avg <= 5", name="rating_avg_range"),
        CheckConstraint("rating_count >= 0", name="rating_count_non_negative"),
        Index(None, "status", "verified"),
        # Discovery filters on ``listed`` and sorts or groups on the second column.
        Index(None, "listed", "downloads_total"),
        Index(None, "listed", "rating_avg", "rating_count"),
        Index(None, "listed", "updated_at"),
        Index(None, "listed", "name"),
        Index(None, "listed", "category"),
        Index(None, "listed", "type"),
        # Covers search's one grouped count (total and facets): grouped in index order.
        # (Named: the convention's name would pass PostgreSQL's 63 characters.)
        Index("ix_marketplace_listings_listed_facets",
              "listed", "category", "type", "permissions", "verified"),
        Index("ix_marketplace_listings_search_key", "search_key", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    plugin_id: Mapped[str] = mapped_column(String(100), unique=True)
    developer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("developers.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    # Permissions and hosts of the latest published version, for filters and facets.
    permissions: Mapped[list[str]] = mapped_column(default=list)
    # Denormalized from the developer so search filters and ranks without a join.
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    latest_version: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ListingStatus] = mapped_column(
        str_enum(ListingStatus, "listing_status"), default=ListingStatus.active
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Discoverable: ``active`` with a published, not yanked version. Denormalized so discovery
    # filters on an index instead of probing the versions per listing; every writer changing
    # either side calls ``catalog.refresh_listed`` in its transaction.
    listed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    downloads_total: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    installs_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rating_avg: Mapped[float] = mapped_column(default=0.0, index=True)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    # The full-text index's key for this listing (migration 0013): assigned by the database on
    # insert for every writer (PostgreSQL an identity, SQLite a trigger), never changed; no
    # writer sets it. SQLite's FTS5 rows are keyed by it (``models/marketplace_search.py``).
    search_key: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), FetchedValue(), nullable=False)


class MarketplaceVersion(Base):
    """One published version: the artifact's digest and the marketplace's signature of it."""

    __tablename__ = "marketplace_versions"
    __table_args__ = (
        UniqueConstraint("listing_id", "version"),
        # Covers ``catalog.compatible_ranges`` (distinct ranges of visible versions).
        Index(None, "status", "yanked", "platform_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    listing_id: Mapped[uuid.UUID] = _listing_fk()
    version: Mapped[str] = mapped_column(String(64))
    artifact_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # base64 ed25519 signature by the marketplace key over the artifact's sha256 (hex, ascii).
    signature: Mapped[str] = mapped_column(String(128))
    signing_key_id: Mapped[str] = mapped_column(String(64))
    developer_key_fingerprint: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    permissions: Mapped[list[str]] = mapped_column(default=list)
    network_hosts: Mapped[list[str]] = mapped_column(default=list)
    secret_keys: Mapped[list[str]] = mapped_column(default=list)
    platform_range: Mapped[str] = mapped_column(String(100), default="")
    changelog: Mapped[str] = mapped_column(Text, default="")
    scan_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rules_version: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[VersionStatus] = mapped_column(
        str_enum(VersionStatus, "version_status"), default=VersionStatus.published
    )
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text)
    submission_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    published_at: Mapped[datetime] = created_at()


class Submission(Base):
    """One upload through the publishing pipeline, with its scan report and decision."""

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
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[SubmissionStatus] = mapped_column(
        str_enum(SubmissionStatus, "submission_status"), default=SubmissionStatus.pending
    )
    release_notes: Mapped[str] = mapped_column(Text, default="")
    developer_signature: Mapped[str | None] = mapped_column(String(128))
    developer_key_fingerprint: Mapped[str | None] = mapped_column(String(64))
    scan_report: Mapped[dict[str, Any] | None] = mapped_column()
    # Why it went to review (new permissions, new hosts, ...) or why it was rejected.
    review_reasons: Mapped[list[str]] = mapped_column(default=list)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PublicationLogEntry(Base):
    """One entry of the hash-chained publication log.

    ``entry_hash`` = sha256 over the canonical JSON of (seq, prev_hash, action, plugin_id,
    version, artifact_sha256, signature, detail, created_at); ``seq`` is unique, so two writers
    cannot both append entry N.
    """

    __tablename__ = "publication_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    action: Mapped[LogAction] = mapped_column(str_enum(LogAction, "log_action"))
    plugin_id: Mapped[str] = mapped_column(String(100), default="", index=True)
    version: Mapped[str] = mapped_column(String(64), default="")
    artifact_sha256: Mapped[str] = mapped_column(String(64), default="")
    signature: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at()


class PublicationLogHead(Base):
    """One row: the newest entry's ``seq`` and ``entry_hash``.

    An append bumps it first (``UPDATE ... RETURNING``): the row stays locked until the commit,
    so appends from any process are serialized and the chain never forks.
    """

    __tablename__ = "publication_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_hash: Mapped[str] = mapped_column(String(64))


class MarketplaceDownload(Base):
    """Downloads and installs of one version on one day (flushed in batches)."""

    __tablename__ = "marketplace_downloads"
    __table_args__ = (
        UniqueConstraint("listing_id", "version", "day"),
        CheckConstraint("downloads >= 0 AND installs >= 0", name="counts_non_negative"),
    )

    id: Mapped[int] = bigint_pk()
    listing_id: Mapped[uuid.UUID] = _listing_fk()
    version: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(index=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    installs: Mapped[int] = mapped_column(Integer, default=0)


class MarketplaceReview(Base):
    """One user's rating of one plugin; the developer may reply once."""

    __tablename__ = "marketplace_reviews"
    __table_args__ = (
        UniqueConstraint("listing_id", "user_id"),
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    listing_id: Mapped[uuid.UUID] = _listing_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class FeaturedEntry(Base):
    """The curated head of the featured list in ``position`` order (``PUT /api/admin/featured``)."""

    __tablename__ = "marketplace_featured"

    listing_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("marketplace_listings.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = created_at()


class SearchTermCount(Base):
    """How often a normalized search term was asked on a day; never who asked."""

    __tablename__ = "marketplace_search_terms"
    __table_args__ = (UniqueConstraint("term", "day"),)

    id: Mapped[int] = bigint_pk()
    term: Mapped[str] = mapped_column(String(200))
    day: Mapped[date] = mapped_column(index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
