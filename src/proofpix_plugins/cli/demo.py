"""`proofpix-plugins demo seed`: an enterprise organization and its admin, to try the API.

Idempotent: the first run creates "Demo Co" (enterprise) and demo@proofpix.dev with a random
password printed once; later runs leave both as they are (``--reset-password`` prints a new one).
"""

from __future__ import annotations

import secrets

import typer
from rich.console import Console

from proofpix_plugins.accounts.service import AccountService
from proofpix_plugins.cli.admin import EXIT_FAILED, run_in_transaction, settings_or_exit
from proofpix_plugins.models.accounts import Role, Tier

app = typer.Typer(no_args_is_help=True, help="Demo data")

DEMO_ORG = "Demo Co"
DEMO_EMAIL = "demo@proofpix.dev"


@app.command("seed")
def seed(
    reset_password: bool = typer.Option(
        False, "--reset-password", help="give the demo user a new password and print it"
    ),
) -> None:
    """Create the demo organization and admin user if they do not exist yet."""
    console = Console(soft_wrap=True)
    errors = Console(stderr=True, soft_wrap=True)
    settings = settings_or_exit(errors)
    password = secrets.token_urlsafe(12)

    async def work(svc: AccountService) -> str:
        existing = await svc.repo.user_by_email(DEMO_EMAIL)
        if existing is None:
            await svc.create_account(
                email=DEMO_EMAIL, password=password, name="Demo Admin", org_name=DEMO_ORG,
                tier=Tier.enterprise, role=Role.admin, platform_admin=True,
            )
            return "created"
        if reset_password:
            await svc.set_password(existing.id, password)
            return "reset"
        return "exists"

    try:
        outcome = run_in_transaction(settings, work)
    except Exception as exc:
        errors.print(f"[red]demo seed failed:[/red] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    if outcome == "exists":
        console.print(
            f"demo already seeded: {DEMO_EMAIL} in {DEMO_ORG!r} (enterprise); its password was "
            "printed when it was created (--reset-password prints a new one)",
            highlight=False,
        )
        return
    console.print(
        f"demo organization {DEMO_ORG!r} (enterprise) with admin {DEMO_EMAIL}\n"
        f"password (shown once): {password}",
        highlight=False,
    )
