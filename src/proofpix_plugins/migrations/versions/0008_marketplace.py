"""The marketplace tables (issues #13 and #14): developers, API keys, signing keys, listings,
versions, submissions, the publication log and its head row, daily downloads, reviews, featured
entries and search-term counts. See ``models/marketplace.py``. The log head is seeded with
seq 0 and the all-zero hash (the chain's genesis).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:39:08.728602
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketplace_search_terms",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_search_terms")),
        sa.UniqueConstraint("term", "day", name=op.f("uq_marketplace_search_terms_term_day")),
    )
    op.create_index(
        op.f("ix_marketplace_search_terms_day"), "marketplace_search_terms", ["day"], unique=False
    )
    op.create_table(
        "publication_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "action",
            sa.Enum(
                "publish",
                "yank",
                "unyank",
                "suspend",
                "unsuspend",
                "review",
                "signing_key_added",
                "signing_key_revoked",
                "marketplace_key",
                name="log_action",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column(
            "detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_publication_log")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_publication_log_entry_hash")),
    )
    op.create_index(
        op.f("ix_publication_log_plugin_id"), "publication_log", ["plugin_id"], unique=False
    )
    head = op.create_table(
        "publication_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_log_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": "0" * 64}])
    op.create_table(
        "developers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("skeleton", sa.String(length=256), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "namespace = lower(namespace)", name=op.f("ck_developers_namespace_lowercase")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_developers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_developers")),
        sa.UniqueConstraint("namespace", name=op.f("uq_developers_namespace")),
        sa.UniqueConstraint("skeleton", name=op.f("uq_developers_skeleton")),
        sa.UniqueConstraint("user_id", name=op.f("uq_developers_user_id")),
    )
    op.create_index(op.f("ix_developers_verified"), "developers", ["verified"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("developer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["developer_id"],
            ["developers.id"],
            name=op.f("fk_api_keys_developer_id_developers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_developer_id"), "api_keys", ["developer_id"], unique=False)
    op.create_index(op.f("ix_api_keys_prefix"), "api_keys", ["prefix"], unique=False)
    op.create_table(
        "developer_signing_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("developer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["developer_id"],
            ["developers.id"],
            name=op.f("fk_developer_signing_keys_developer_id_developers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_developer_signing_keys")),
        sa.UniqueConstraint(
            "developer_id",
            "fingerprint",
            name=op.f("uq_developer_signing_keys_developer_id_fingerprint"),
        ),
    )
    op.create_index(
        op.f("ix_developer_signing_keys_developer_id"),
        "developer_signing_keys",
        ["developer_id"],
        unique=False,
    )
    op.create_table(
        "marketplace_listings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("developer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column(
            "permissions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("latest_version", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                name="listing_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("downloads_total", sa.BigInteger(), nullable=False),
        sa.Column("installs_total", sa.BigInteger(), nullable=False),
        sa.Column("rating_avg", sa.Double(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "downloads_total >= 0", name=op.f("ck_marketplace_listings_downloads_non_negative")
        ),
        sa.CheckConstraint(
            "installs_total >= 0", name=op.f("ck_marketplace_listings_installs_non_negative")
        ),
        sa.CheckConstraint(
            "rating_avg >= 0 AND rating_avg <= 5",
            name=op.f("ck_marketplace_listings_rating_avg_range"),
        ),
        sa.CheckConstraint(
            "rating_count >= 0", name=op.f("ck_marketplace_listings_rating_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["developer_id"],
            ["developers.id"],
            name=op.f("fk_marketplace_listings_developer_id_developers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_listings")),
        sa.UniqueConstraint("plugin_id", name=op.f("uq_marketplace_listings_plugin_id")),
    )
    op.create_index(
        op.f("ix_marketplace_listings_category"), "marketplace_listings", ["category"], unique=False
    )
    op.create_index(
        op.f("ix_marketplace_listings_developer_id"),
        "marketplace_listings",
        ["developer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_listings_downloads_total"),
        "marketplace_listings",
        ["downloads_total"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_listings_name"), "marketplace_listings", ["name"], unique=False
    )
    op.create_index(
        op.f("ix_marketplace_listings_rating_avg"),
        "marketplace_listings",
        ["rating_avg"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_listings_status_verified"),
        "marketplace_listings",
        ["status", "verified"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_listings_type"), "marketplace_listings", ["type"], unique=False
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("developer_id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "scanning",
                "in_review",
                "published",
                "rejected",
                name="submission_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("release_notes", sa.Text(), nullable=False),
        sa.Column("developer_signature", sa.String(length=128), nullable=True),
        sa.Column("developer_key_fingerprint", sa.String(length=64), nullable=True),
        sa.Column(
            "scan_report", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column(
            "review_reasons",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["developer_id"],
            ["developers.id"],
            name=op.f("fk_submissions_developer_id_developers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
            name=op.f("fk_submissions_reviewer_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
    )
    op.create_index(
        op.f("ix_submissions_artifact_sha256"), "submissions", ["artifact_sha256"], unique=False
    )
    op.create_index(
        op.f("ix_submissions_developer_id_created_at"),
        "submissions",
        ["developer_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_submissions_plugin_id"), "submissions", ["plugin_id"], unique=False)
    op.create_index(
        op.f("ix_submissions_status_created_at"),
        "submissions",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "marketplace_downloads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("installs", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "downloads >= 0 AND installs >= 0",
            name=op.f("ck_marketplace_downloads_counts_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_downloads_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_downloads")),
        sa.UniqueConstraint(
            "listing_id",
            "version",
            "day",
            name=op.f("uq_marketplace_downloads_listing_id_version_day"),
        ),
    )
    op.create_index(
        op.f("ix_marketplace_downloads_day"), "marketplace_downloads", ["day"], unique=False
    )
    op.create_index(
        op.f("ix_marketplace_downloads_listing_id"),
        "marketplace_downloads",
        ["listing_id"],
        unique=False,
    )
    op.create_table(
        "marketplace_featured",
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_featured_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("listing_id", name=op.f("pk_marketplace_featured")),
    )
    op.create_index(
        op.f("ix_marketplace_featured_position"), "marketplace_featured", ["position"], unique=False
    )
    op.create_table(
        "marketplace_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating >= 1 AND rating <= 5", name=op.f("ck_marketplace_reviews_rating_range")
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_reviews_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_marketplace_reviews_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_marketplace_reviews_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_reviews")),
        sa.UniqueConstraint(
            "listing_id", "user_id", name=op.f("uq_marketplace_reviews_listing_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_marketplace_reviews_listing_id"),
        "marketplace_reviews",
        ["listing_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_reviews_organization_id"),
        "marketplace_reviews",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_reviews_user_id"), "marketplace_reviews", ["user_id"], unique=False
    )
    op.create_table(
        "marketplace_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("signing_key_id", sa.String(length=64), nullable=False),
        sa.Column("developer_key_fingerprint", sa.String(length=64), nullable=True),
        sa.Column(
            "manifest", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "permissions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "network_hosts",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "secret_keys", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("platform_range", sa.String(length=100), nullable=False),
        sa.Column("changelog", sa.Text(), nullable=False),
        sa.Column(
            "scan_summary", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("rules_version", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "published",
                "in_review",
                name="version_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("yanked_reason", sa.Text(), nullable=True),
        sa.Column("submission_id", sa.Uuid(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_versions_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_versions")),
        sa.UniqueConstraint(
            "listing_id", "version", name=op.f("uq_marketplace_versions_listing_id_version")
        ),
    )
    op.create_index(
        op.f("ix_marketplace_versions_artifact_sha256"),
        "marketplace_versions",
        ["artifact_sha256"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_versions_listing_id"),
        "marketplace_versions",
        ["listing_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_marketplace_versions_listing_id"), table_name="marketplace_versions")
    op.drop_index(
        op.f("ix_marketplace_versions_artifact_sha256"), table_name="marketplace_versions"
    )
    op.drop_table("marketplace_versions")
    op.drop_index(op.f("ix_marketplace_reviews_user_id"), table_name="marketplace_reviews")
    op.drop_index(op.f("ix_marketplace_reviews_organization_id"), table_name="marketplace_reviews")
    op.drop_index(op.f("ix_marketplace_reviews_listing_id"), table_name="marketplace_reviews")
    op.drop_table("marketplace_reviews")
    op.drop_index(op.f("ix_marketplace_featured_position"), table_name="marketplace_featured")
    op.drop_table("marketplace_featured")
    op.drop_index(op.f("ix_marketplace_downloads_listing_id"), table_name="marketplace_downloads")
    op.drop_index(op.f("ix_marketplace_downloads_day"), table_name="marketplace_downloads")
    op.drop_table("marketplace_downloads")
    op.drop_index(op.f("ix_submissions_status_created_at"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_plugin_id"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_developer_id_created_at"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_artifact_sha256"), table_name="submissions")
    op.drop_table("submissions")
    op.drop_index(op.f("ix_marketplace_listings_type"), table_name="marketplace_listings")
    op.drop_index(
        op.f("ix_marketplace_listings_status_verified"), table_name="marketplace_listings"
    )
    op.drop_index(op.f("ix_marketplace_listings_rating_avg"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_name"), table_name="marketplace_listings")
    op.drop_index(
        op.f("ix_marketplace_listings_downloads_total"), table_name="marketplace_listings"
    )
    op.drop_index(op.f("ix_marketplace_listings_developer_id"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_category"), table_name="marketplace_listings")
    op.drop_table("marketplace_listings")
    op.drop_index(
        op.f("ix_developer_signing_keys_developer_id"), table_name="developer_signing_keys"
    )
    op.drop_table("developer_signing_keys")
    op.drop_index(op.f("ix_api_keys_prefix"), table_name="api_keys")
    op.drop_index(op.f("ix_api_keys_developer_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_developers_verified"), table_name="developers")
    op.drop_table("developers")
    op.drop_table("publication_log_head")
    op.drop_index(op.f("ix_publication_log_plugin_id"), table_name="publication_log")
    op.drop_table("publication_log")
    op.drop_index(op.f("ix_marketplace_search_terms_day"), table_name="marketplace_search_terms")
    op.drop_table("marketplace_search_terms")
