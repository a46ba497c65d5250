"""Initial schema: every table of SPEC §8.

Revision ID: 0001
Revises:
Create Date: (regenerated while nothing is released)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_actor_user_id"), "audit_log", ["actor_user_id"], unique=False
    )
    op.create_index(
        op.f("ix_audit_log_organization_id_created_at"),
        "audit_log",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_audit_log_request_id"), "audit_log", ["request_id"], unique=False)
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column(
            "tier",
            sa.Enum(
                "free",
                "pro",
                "enterprise",
                name="tier",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_index(op.f("ix_organizations_tier"), "organizations", ["tier"], unique=False)
    op.create_table(
        "plugin_marketplace_cache",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_marketplace_cache")),
        sa.UniqueConstraint("key", name=op.f("uq_plugin_marketplace_cache_key")),
    )
    op.create_index(
        op.f("ix_plugin_marketplace_cache_expires_at"),
        "plugin_marketplace_cache",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_platform_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lowercase")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "developers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_developers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_developers")),
        sa.UniqueConstraint("namespace", name=op.f("uq_developers_namespace")),
        sa.UniqueConstraint("user_id", name=op.f("uq_developers_user_id")),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("processed_sha256", sa.String(length=64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("exif", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_files_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_files_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index(op.f("ix_files_organization_id"), "files", ["organization_id"], unique=False)
    op.create_index(
        op.f("ix_files_organization_id_created_at"),
        "files",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_files_processed_sha256"), "files", ["processed_sha256"], unique=False)
    op.create_index(op.f("ix_files_sha256"), "files", ["sha256"], unique=False)
    op.create_table(
        "marketplace_search_terms",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_marketplace_search_terms_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_search_terms")),
    )
    op.create_index(
        op.f("ix_marketplace_search_terms_created_at"),
        "marketplace_search_terms",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_search_terms_organization_id"),
        "marketplace_search_terms",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_search_terms_term"), "marketplace_search_terms", ["term"], unique=False
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "owner",
                "admin",
                "member",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_memberships_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint(
            "user_id", "organization_id", name=op.f("uq_memberships_user_id_organization_id")
        ),
    )
    op.create_index(
        op.f("ix_memberships_organization_id"), "memberships", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"], unique=False)
    op.create_table(
        "plugin_storage",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_plugin_storage_size_non_negative")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugin_storage_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_storage")),
        sa.UniqueConstraint(
            "organization_id",
            "plugin_id",
            "key",
            name=op.f("uq_plugin_storage_organization_id_plugin_id_key"),
        ),
    )
    op.create_index(
        op.f("ix_plugin_storage_organization_id"),
        "plugin_storage",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "plugins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "installed",
                "loaded",
                "unloaded",
                "disabled",
                "error",
                name="plugin_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "manifest", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("install_path", sa.String(length=1024), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column(
            "pending_consent",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("installed_by", sa.Uuid(), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["installed_by"],
            ["users.id"],
            name=op.f("fk_plugins_installed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugins_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugins")),
        sa.UniqueConstraint(
            "organization_id", "plugin_id", name=op.f("uq_plugins_organization_id_plugin_id")
        ),
    )
    op.create_index(
        op.f("ix_plugins_artifact_sha256"), "plugins", ["artifact_sha256"], unique=False
    )
    op.create_index(
        op.f("ix_plugins_organization_id"), "plugins", ["organization_id"], unique=False
    )
    op.create_index(
        op.f("ix_plugins_organization_id_category"),
        "plugins",
        ["organization_id", "category"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugins_organization_id_name"),
        "plugins",
        ["organization_id", "name"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugins_organization_id_status"),
        "plugins",
        ["organization_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugins_organization_id_type"),
        "plugins",
        ["organization_id", "type"],
        unique=False,
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_refresh_tokens_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replaced_by_id"],
            ["refresh_tokens.id"],
            name=op.f("fk_refresh_tokens_replaced_by_id_refresh_tokens"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"], unique=False
    )
    op.create_index(
        op.f("ix_refresh_tokens_organization_id"),
        "refresh_tokens",
        ["organization_id"],
        unique=False,
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("developer_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
        "file_plugin_results",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("hook_name", sa.String(length=100), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_file_plugin_results_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_file_plugin_results_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_plugin_results")),
    )
    op.create_index(
        op.f("ix_file_plugin_results_file_id"), "file_plugin_results", ["file_id"], unique=False
    )
    op.create_index(
        op.f("ix_file_plugin_results_organization_id"),
        "file_plugin_results",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "marketplace_listings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("developer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("featured", sa.Boolean(), nullable=False),
        sa.Column("featured_rank", sa.Integer(), nullable=True),
        sa.Column("latest_version", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "disabled",
                name="listing_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloads_total", sa.BigInteger(), nullable=False),
        sa.Column("installs_total", sa.BigInteger(), nullable=False),
        sa.Column("rating_avg", sa.Float(), nullable=False),
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
        op.f("ix_marketplace_listings_featured_rank"),
        "marketplace_listings",
        ["featured_rank"],
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
        op.f("ix_marketplace_listings_status"), "marketplace_listings", ["status"], unique=False
    )
    op.create_index(
        op.f("ix_marketplace_listings_type"), "marketplace_listings", ["type"], unique=False
    )
    op.create_index(
        op.f("ix_marketplace_listings_updated_at"),
        "marketplace_listings",
        ["updated_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketplace_listings_verified"), "marketplace_listings", ["verified"], unique=False
    )
    op.create_table(
        "plugin_configurations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("plugin_row_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "values", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_plugin_configurations_version_positive")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugin_configurations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plugin_row_id"],
            ["plugins.id"],
            name=op.f("fk_plugin_configurations_plugin_row_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_plugin_configurations_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_configurations")),
        sa.UniqueConstraint("plugin_row_id", name=op.f("uq_plugin_configurations_plugin_row_id")),
    )
    op.create_index(
        op.f("ix_plugin_configurations_organization_id"),
        "plugin_configurations",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "plugin_dependencies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("plugin_row_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("depends_on", sa.String(length=100), nullable=False),
        sa.Column("specifier", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugin_dependencies_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plugin_row_id"],
            ["plugins.id"],
            name=op.f("fk_plugin_dependencies_plugin_row_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_dependencies")),
        sa.UniqueConstraint(
            "plugin_row_id",
            "depends_on",
            name=op.f("uq_plugin_dependencies_plugin_row_id_depends_on"),
        ),
    )
    op.create_index(
        op.f("ix_plugin_dependencies_depends_on"),
        "plugin_dependencies",
        ["depends_on"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugin_dependencies_organization_id"),
        "plugin_dependencies",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugin_dependencies_plugin_row_id"),
        "plugin_dependencies",
        ["plugin_row_id"],
        unique=False,
    )
    op.create_table(
        "plugin_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("plugin_row_id", sa.Uuid(), nullable=True),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_plugin_events_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugin_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plugin_row_id"],
            ["plugins.id"],
            name=op.f("fk_plugin_events_plugin_row_id_plugins"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_events")),
    )
    op.create_index(
        op.f("ix_plugin_events_organization_id"), "plugin_events", ["organization_id"], unique=False
    )
    op.create_index(
        op.f("ix_plugin_events_organization_id_plugin_id_created_at"),
        "plugin_events",
        ["organization_id", "plugin_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugin_events_plugin_row_id"), "plugin_events", ["plugin_row_id"], unique=False
    )
    op.create_table(
        "plugin_hooks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("plugin_row_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("hook_name", sa.String(length=100), nullable=False),
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugin_hooks_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plugin_row_id"],
            ["plugins.id"],
            name=op.f("fk_plugin_hooks_plugin_row_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_hooks")),
    )
    op.create_index(
        op.f("ix_plugin_hooks_organization_id"), "plugin_hooks", ["organization_id"], unique=False
    )
    op.create_index(
        op.f("ix_plugin_hooks_organization_id_hook_name"),
        "plugin_hooks",
        ["organization_id", "hook_name"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugin_hooks_plugin_row_id"), "plugin_hooks", ["plugin_row_id"], unique=False
    )
    op.create_table(
        "plugin_metrics",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("plugin_row_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("timeouts", sa.Integer(), nullable=False),
        sa.Column("denied", sa.Integer(), nullable=False),
        sa.Column("crashed", sa.Integer(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column(
            "latency_hist", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("cpu_ms", sa.Float(), nullable=False),
        sa.Column("max_rss_kb", sa.BigInteger(), nullable=False),
        sa.Column("http_calls", sa.Integer(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugin_metrics_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plugin_row_id"],
            ["plugins.id"],
            name=op.f("fk_plugin_metrics_plugin_row_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_metrics")),
        sa.UniqueConstraint(
            "plugin_row_id",
            "bucket_start",
            name=op.f("uq_plugin_metrics_plugin_row_id_bucket_start"),
        ),
    )
    op.create_index(
        op.f("ix_plugin_metrics_organization_id"),
        "plugin_metrics",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "plugin_permissions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("plugin_row_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "permission",
                "network",
                name="permission_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("requested", sa.Boolean(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("granted_by", sa.Uuid(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["granted_by"],
            ["users.id"],
            name=op.f("fk_plugin_permissions_granted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plugin_permissions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plugin_row_id"],
            ["plugins.id"],
            name=op.f("fk_plugin_permissions_plugin_row_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_permissions")),
        sa.UniqueConstraint(
            "plugin_row_id",
            "kind",
            "value",
            name=op.f("uq_plugin_permissions_plugin_row_id_kind_value"),
        ),
    )
    op.create_index(
        op.f("ix_plugin_permissions_organization_id"),
        "plugin_permissions",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plugin_permissions_plugin_row_id"),
        "plugin_permissions",
        ["plugin_row_id"],
        unique=False,
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("developer_id", sa.Uuid(), nullable=False),
        sa.Column("plugin_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
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
        sa.Column(
            "scan_report", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("review_notes", sa.Text(), nullable=True),
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
    op.create_table(
        "marketplace_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
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
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column(
            "manifest", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "permissions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "engines", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("yanked_reason", sa.Text(), nullable=True),
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


def downgrade() -> None:
    op.drop_index(
        op.f("ix_marketplace_versions_artifact_sha256"), table_name="marketplace_versions"
    )
    op.drop_table("marketplace_versions")
    op.drop_index(op.f("ix_marketplace_reviews_user_id"), table_name="marketplace_reviews")
    op.drop_index(op.f("ix_marketplace_reviews_organization_id"), table_name="marketplace_reviews")
    op.drop_table("marketplace_reviews")
    op.drop_index(op.f("ix_marketplace_downloads_day"), table_name="marketplace_downloads")
    op.drop_table("marketplace_downloads")
    op.drop_index(op.f("ix_submissions_status_created_at"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_plugin_id"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_developer_id_created_at"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_artifact_sha256"), table_name="submissions")
    op.drop_table("submissions")
    op.drop_index(op.f("ix_plugin_permissions_plugin_row_id"), table_name="plugin_permissions")
    op.drop_index(op.f("ix_plugin_permissions_organization_id"), table_name="plugin_permissions")
    op.drop_table("plugin_permissions")
    op.drop_index(op.f("ix_plugin_metrics_organization_id"), table_name="plugin_metrics")
    op.drop_table("plugin_metrics")
    op.drop_index(op.f("ix_plugin_hooks_plugin_row_id"), table_name="plugin_hooks")
    op.drop_index(op.f("ix_plugin_hooks_organization_id_hook_name"), table_name="plugin_hooks")
    op.drop_index(op.f("ix_plugin_hooks_organization_id"), table_name="plugin_hooks")
    op.drop_table("plugin_hooks")
    op.drop_index(op.f("ix_plugin_events_plugin_row_id"), table_name="plugin_events")
    op.drop_index(
        op.f("ix_plugin_events_organization_id_plugin_id_created_at"), table_name="plugin_events"
    )
    op.drop_index(op.f("ix_plugin_events_organization_id"), table_name="plugin_events")
    op.drop_table("plugin_events")
    op.drop_index(op.f("ix_plugin_dependencies_plugin_row_id"), table_name="plugin_dependencies")
    op.drop_index(op.f("ix_plugin_dependencies_organization_id"), table_name="plugin_dependencies")
    op.drop_index(op.f("ix_plugin_dependencies_depends_on"), table_name="plugin_dependencies")
    op.drop_table("plugin_dependencies")
    op.drop_index(
        op.f("ix_plugin_configurations_organization_id"), table_name="plugin_configurations"
    )
    op.drop_table("plugin_configurations")
    op.drop_index(op.f("ix_marketplace_listings_verified"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_updated_at"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_type"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_status"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_rating_avg"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_name"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_featured_rank"), table_name="marketplace_listings")
    op.drop_index(
        op.f("ix_marketplace_listings_downloads_total"), table_name="marketplace_listings"
    )
    op.drop_index(op.f("ix_marketplace_listings_developer_id"), table_name="marketplace_listings")
    op.drop_index(op.f("ix_marketplace_listings_category"), table_name="marketplace_listings")
    op.drop_table("marketplace_listings")
    op.drop_index(op.f("ix_file_plugin_results_organization_id"), table_name="file_plugin_results")
    op.drop_index(op.f("ix_file_plugin_results_file_id"), table_name="file_plugin_results")
    op.drop_table("file_plugin_results")
    op.drop_index(op.f("ix_api_keys_prefix"), table_name="api_keys")
    op.drop_index(op.f("ix_api_keys_developer_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_organization_id"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index(op.f("ix_plugins_organization_id_type"), table_name="plugins")
    op.drop_index(op.f("ix_plugins_organization_id_status"), table_name="plugins")
    op.drop_index(op.f("ix_plugins_organization_id_name"), table_name="plugins")
    op.drop_index(op.f("ix_plugins_organization_id_category"), table_name="plugins")
    op.drop_index(op.f("ix_plugins_organization_id"), table_name="plugins")
    op.drop_index(op.f("ix_plugins_artifact_sha256"), table_name="plugins")
    op.drop_table("plugins")
    op.drop_index(op.f("ix_plugin_storage_organization_id"), table_name="plugin_storage")
    op.drop_table("plugin_storage")
    op.drop_index(op.f("ix_memberships_user_id"), table_name="memberships")
    op.drop_index(op.f("ix_memberships_organization_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_index(op.f("ix_marketplace_search_terms_term"), table_name="marketplace_search_terms")
    op.drop_index(
        op.f("ix_marketplace_search_terms_organization_id"), table_name="marketplace_search_terms"
    )
    op.drop_index(
        op.f("ix_marketplace_search_terms_created_at"), table_name="marketplace_search_terms"
    )
    op.drop_table("marketplace_search_terms")
    op.drop_index(op.f("ix_files_sha256"), table_name="files")
    op.drop_index(op.f("ix_files_processed_sha256"), table_name="files")
    op.drop_index(op.f("ix_files_organization_id_created_at"), table_name="files")
    op.drop_index(op.f("ix_files_organization_id"), table_name="files")
    op.drop_table("files")
    op.drop_table("developers")
    op.drop_table("users")
    op.drop_index(
        op.f("ix_plugin_marketplace_cache_expires_at"), table_name="plugin_marketplace_cache"
    )
    op.drop_table("plugin_marketplace_cache")
    op.drop_index(op.f("ix_organizations_tier"), table_name="organizations")
    op.drop_table("organizations")
    op.drop_table("blobs")
    op.drop_index(op.f("ix_audit_log_request_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_organization_id_created_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor_user_id"), table_name="audit_log")
    op.drop_table("audit_log")
