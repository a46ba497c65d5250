"""PostgreSQL announces every change of a user's auth epoch (``NOTIFY proofpix_auth_epoch``).

One trigger on ``users``: after an update of ``auth_epoch`` (every trigger of migration 0006
ends in one, so a role, membership, tier, activity or platform-admin change by any writer: the
ORM, the CLI, hand-written SQL) or a deletion, ``pg_notify`` with the user's id. The
notification is sent when the transaction commits, to every session listening; the API
processes listen (accounts/epoch_feed.py) and drop that user's cached epoch. SQLite needs
nothing: its processes watch the file's ``data_version`` instead.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The channel (accounts/epoch_feed.py listens on it).
CHANNEL = "proofpix_auth_epoch"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION users_auth_epoch_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP = 'DELETE' THEN "
        f"PERFORM pg_notify('{CHANNEL}', OLD.id::text); "
        "ELSIF NEW.auth_epoch IS DISTINCT FROM OLD.auth_epoch THEN "
        f"PERFORM pg_notify('{CHANNEL}', NEW.id::text); "
        "END IF; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER users_auth_epoch_notify AFTER UPDATE OF auth_epoch OR DELETE ON users "
        "FOR EACH ROW EXECUTE FUNCTION users_auth_epoch_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS users_auth_epoch_notify ON users")
    op.execute("DROP FUNCTION IF EXISTS users_auth_epoch_notify()")
