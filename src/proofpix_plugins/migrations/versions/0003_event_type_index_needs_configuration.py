"""Index the events list by type; add the ``needs_configuration`` plugin status.

``GET /api/plugins/{id}/events?type=`` filters by event type (SPEC §7); the index serves it
within one plugin's events. ``plugins.status`` is a VARCHAR with a CHECK
(``models.base.str_enum``): the CHECK is replaced to allow the new value (SQLite rebuilds the
table in a batch).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("installed", "loaded", "unloaded", "disabled", "error")
_NEW = (*_OLD, "needs_configuration")


def _status_check(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_index(
        op.f("ix_plugin_events_organization_id_plugin_id_event_type"),
        "plugin_events",
        ["organization_id", "plugin_id", "event_type"],
        unique=False,
    )
    with op.batch_alter_table("plugins") as batch:
        batch.drop_constraint(op.f("ck_plugins_plugin_status"), type_="check")
        batch.create_check_constraint(op.f("ck_plugins_plugin_status"), _status_check(_NEW))


def downgrade() -> None:
    op.execute(
        "UPDATE plugins SET status = 'installed', status_reason = NULL "
        "WHERE status = 'needs_configuration'"
    )
    with op.batch_alter_table("plugins") as batch:
        batch.drop_constraint(op.f("ck_plugins_plugin_status"), type_="check")
        batch.create_check_constraint(op.f("ck_plugins_plugin_status"), _status_check(_OLD))
    op.drop_index(
        op.f("ix_plugin_events_organization_id_plugin_id_event_type"), table_name="plugin_events"
    )
