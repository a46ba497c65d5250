"""`proofpix-plugins db` commands: migrate the configured database, or check it for drift.

The database is ``PROOFPIX_DATABASE_URL``, or SQLite under ``PROOFPIX_DATA_DIR`` (``./.data``).
Exit codes: 0 success, 1 drift found, 2 the database could not be reached or migrated.
"""

from __future__ import annotations

import typer
from rich.console import Console

from proofpix_plugins.config import Settings
from proofpix_plugins.migrations.runner import check as check_drift
from proofpix_plugins.migrations.runner import target_url
from proofpix_plugins.migrations.runner import upgrade as upgrade_to

app = typer.Typer(no_args_is_help=True, help="Database migrations")

EXIT_DRIFT = 1
EXIT_UNAVAILABLE = 2


def _describe_target(settings: Settings) -> str:
    # Never print a password from the URL.
    return target_url(settings).render_as_string(hide_password=True)


@app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Alembic revision to migrate to"),
) -> None:
    """Migrate the database to the newest revision (or REVISION)."""
    console = Console(stderr=True)
    try:
        settings = Settings()
        where = _describe_target(settings)
        upgrade_to(settings, revision)
    except Exception as exc:
        # Configuration, connection, SQLAlchemy and Alembic errors: one line, no stack trace.
        console.print(f"[red]db upgrade failed:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    console.print(f"database at {where} is at revision {revision}")


@app.command("check")
def check() -> None:
    """Upgrade the database to head, then fail if the models differ from the migrations."""
    console = Console(stderr=True)
    try:
        settings = Settings()
        where = _describe_target(settings)
        drift = check_drift(settings)
    except Exception as exc:
        console.print(f"[red]db check failed:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    if drift:
        console.print(f"[red]models and migrations differ[/red] at {where}:")
        for line in drift:
            console.print(f"  - {line}", markup=False, highlight=False)
        console.print("generate a migration: proofpix_plugins.migrations.autogenerate_revision")
        raise typer.Exit(EXIT_DRIFT)
    console.print(f"no drift between models and migrations at {where}")
