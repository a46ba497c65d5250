"""Marketplace search: covering indexes for the grouped facet count and the compatible ranges.

``marketplace_listings (listed, category, type, permissions, verified)``: search reads its total
and its three facets from one statement grouped by (category, type, permissions) over the listed
rows; this index yields them in group order without a sort or a table read (the verified filter
included). ``marketplace_versions (status, yanked, platform_range)``: the distinct platform
ranges of visible versions, read from the index alone.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns); the first is named short of PostgreSQL's 63-character limit.
_INDEXES = (
    ("ix_marketplace_listings_listed_facets", "marketplace_listings",
     ("listed", "category", "type", "permissions", "verified")),
    ("ix_marketplace_versions_status_yanked_platform_range", "marketplace_versions",
     ("status", "yanked", "platform_range")),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, list(columns), unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
