"""users.auth_epoch: a counter every change to what an access token asserts bumps.

An access token carries its user's epoch as it was when the token was issued. Guards of writes
compare it with the current epoch (cached per process, see accounts/epochs.py) instead of
re-reading role, tier and account state on every call. The triggers make every writer bump it,
the ORM, the CLI and hand-written SQL alike: a role change or a removed membership, an
organization's tier change (all its members), a deactivation or a platform-admin change.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP_USER = "UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = {ref}.user_id"
_BUMP_SELF = "UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = NEW.id"
_BUMP_ORG = ("UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id IN "
             "(SELECT user_id FROM memberships WHERE organization_id = NEW.id)")

# (name, timing and event, table, statement)
_TRIGGERS = (
    ("memberships_role_auth_epoch", "AFTER UPDATE OF role", "memberships",
     _BUMP_USER.format(ref="NEW")),
    ("memberships_delete_auth_epoch", "AFTER DELETE", "memberships",
     _BUMP_USER.format(ref="OLD")),
    ("organizations_tier_auth_epoch", "AFTER UPDATE OF tier", "organizations", _BUMP_ORG),
    ("users_state_auth_epoch", "AFTER UPDATE OF is_active, is_platform_admin", "users",
     _BUMP_SELF),
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("auth_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, when, table, statement in _TRIGGERS:
        if postgres:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {statement}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW "
                f"BEGIN {statement}; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, _when, table, _statement in reversed(_TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("auth_epoch")
