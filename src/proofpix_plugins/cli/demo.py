"""`proofpix-plugins demo seed`: an enterprise organization and its admin, to try the API, and a
demo marketplace.

Idempotent: the first run creates "Demo Co" (enterprise) and demo@proofpix.dev (its admin and a
platform admin) with a random password printed once; later runs leave both as they are
(``--reset-password`` prints a new one). The same user holds the verified publisher namespace
``proofpix``, under which every plugin in ``examples/`` is published (through the real publishing
path: packed, scanned, signed, logged) and featured (marketplace/demo.py); versions already
published are skipped.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from proofpix_plugins.accounts.service import AccountService
from proofpix_plugins.cli.admin import EXIT_FAILED, run_in_transaction, settings_or_exit
from proofpix_plugins.marketplace.demo import DemoMarketplace, seed_demo_marketplace
from proofpix_plugins.models.accounts import Role, Tier
from proofpix_plugins.packages.platform_key import PlatformKey
from proofpix_plugins.storage.factory import open_blob_store

app = typer.Typer(no_args_is_help=True, help="Demo data")

DEMO_ORG = "Demo Co"
DEMO_EMAIL = "demo@proofpix.dev"
DEFAULT_EXAMPLES = Path("examples")


@app.command("seed")
def seed(
    reset_password: bool = typer.Option(
        False, "--reset-password", help="give the demo user a new password and print it"
    ),
    examples: Annotated[Path, typer.Option(
        "--examples", help="publish the plugins in this folder as 'proofpix'")] = DEFAULT_EXAMPLES,
    marketplace: bool = typer.Option(
        True, "--marketplace/--no-marketplace", help="also seed the demo marketplace"
    ),
) -> None:
    """Create the demo organization and admin user if they do not exist yet."""
    console = Console(soft_wrap=True)
    errors = Console(stderr=True, soft_wrap=True)
    settings = settings_or_exit(errors)
    password = secrets.token_urlsafe(12)

    shop = DemoMarketplace()
    seed_marketplace = marketplace and examples.is_dir()

    async def work(svc: AccountService) -> str:
        existing = await svc.repo.user_by_email(DEMO_EMAIL)
        outcome = "exists"
        if existing is None:
            await svc.create_account(
                email=DEMO_EMAIL, password=password, name="Demo Admin", org_name=DEMO_ORG,
                tier=Tier.enterprise, role=Role.admin, platform_admin=True,
            )
            outcome = "created"
        elif reset_password:
            await svc.set_password(existing.id, password)
            outcome = "reset"
        if seed_marketplace:
            user = await svc.repo.user_by_email(DEMO_EMAIL)
            assert user is not None
            secrets_settings = settings.ensure_secrets()
            assert secrets_settings.signing_key is not None
            key = PlatformKey(secrets_settings.signing_key.get_secret_value().encode("ascii"))
            blobs = await open_blob_store(settings)
            nonlocal shop
            shop = await seed_demo_marketplace(svc.repo.session, blobs, key, examples,
                                               user_id=user.id)
        return outcome

    try:
        outcome = run_in_transaction(settings, work)
    except Exception as exc:
        errors.print(f"[red]demo seed failed:[/red] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    if shop.published or shop.skipped or shop.refused:
        console.print(
            f"demo marketplace (publisher 'proofpix', verified): {len(shop.published)} published,"
            f" {len(shop.skipped)} already there"
            + (", featured" if shop.featured else ""), highlight=False)
        for name, reasons in shop.refused.items():
            errors.print(f"[yellow]not published[/yellow] {name}: {'; '.join(reasons)}",
                         highlight=False)
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
