"""Marketplace discovery: the visibility rule stored on the listing (issue 14).

``marketplace_listings.listed``: ``status = 'active'`` and a version ``published`` and not yanked,
backfilled from the existing rows and kept from then on by ``catalog.refresh_listed`` (called by
every writer). Composite indexes lead with it for what discovery sorts and groups on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("listed", "downloads_total"),
    ("listed", "rating_avg", "rating_count"),
    ("listed", "updated_at"),
    ("listed", "name"),
    ("listed", "category"),
    ("listed", "type"),
)


def _name(columns: tuple[str, ...]) -> str:
    return "ix_marketplace_listings_" + "_".join(columns)


def upgrade() -> None:
    # Plain ALTERs: a batch table rebuild on SQLite would drop the FTS triggers (0009).
    op.add_column("marketplace_listings", sa.Column("listed", sa.Boolean(), nullable=False,
                                                    server_default=sa.false()))
    op.execute(
        "UPDATE marketplace_listings SET listed = (status = 'active' AND EXISTS ("
        "SELECT 1 FROM marketplace_versions v WHERE v.listing_id = marketplace_listings.id "
        "AND v.status = 'published' AND v.yanked = false))"
    )
    for columns in _INDEXES:
        op.create_index(_name(columns), "marketplace_listings", list(columns), unique=False)


def downgrade() -> None:
    for columns in reversed(_INDEXES):
        op.drop_index(_name(columns), table_name="marketplace_listings")
    op.drop_column("marketplace_listings", "listed")
