"""`proofpix-plugins admin` commands: operators create users and change subscription tiers.

Exit codes: 0 done; 1 the command could not be carried out (duplicate email, unknown
organization, database unreachable); 2 invalid input (bad email, weak password, unknown tier).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.accounts.epochs import publish_invalidation
from proofpix_plugins.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Passwords
from proofpix_plugins.accounts.schemas import RegisterIn
from proofpix_plugins.accounts.service import AccountService
from proofpix_plugins.accounts.tokens import AccessTokens
from proofpix_plugins.config import Settings
from proofpix_plugins.db import create_engine, create_session_factory, session_scope
from proofpix_plugins.errors import ProofPixError
from proofpix_plugins.migrations import upgrade_async
from proofpix_plugins.models.accounts import Role, Tier
from proofpix_plugins.plugins.event_hub import RedisEventHub

app = typer.Typer(no_args_is_help=True, help="Operator commands: users, organizations, tiers")

EXIT_FAILED = 1
EXIT_USAGE = 2

T = TypeVar("T")


def settings_or_exit(console: Console) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = "PROOFPIX_" + "_".join(str(p) for p in err["loc"]).upper()
            console.print(f"[red]invalid setting {field}:[/red] {err['msg']}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None


def run_in_transaction(
    settings: Settings, work: Callable[[AccountService], Awaitable[T]]
) -> T:
    """Run ``work`` in one transaction; the embedded SQLite database is migrated first."""

    async def main() -> T:
        engine = create_engine(settings)
        try:
            if engine.dialect.name == "sqlite":
                await upgrade_async(settings)
            factory = create_session_factory(engine)
            async with session_scope(factory) as session:
                result = await work(_service(session, settings))
            await _announce_auth_change(settings)
            return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def _announce_auth_change(settings: Settings) -> None:
    """Tell running API processes to drop their cached auth epochs (roles or tiers may have
    changed). Without Redis there is nothing to tell: SQLite's processes see the commit in the
    file's data_version, PostgreSQL's in the database's own notification (accounts/epochs.py)."""
    if not settings.redis_url:
        return
    hub = RedisEventHub(settings.redis_url)
    try:
        announced = await publish_invalidation(hub, None)
    finally:
        await hub.close()
    if not announced:
        Console(stderr=True, soft_wrap=True).print(
            "[yellow]warning:[/yellow] committed, but Redis did not take the announcement: "
            "running API processes accept writes with the old role or tier for up to "
            f"{settings.auth_epoch_cache_seconds:g} s (PROOFPIX_AUTH_EPOCH_CACHE_SECONDS)",
            highlight=False,
        )


def _service(session: AsyncSession, settings: Settings) -> AccountService:
    # The CLI issues no access tokens: the signing key is irrelevant here.
    return AccountService(
        session,
        Passwords.for_settings(settings),
        AccessTokens("unused-by-the-cli", settings.access_token_ttl_seconds),
        settings.refresh_token_ttl_seconds,
    )


def _validate_credentials(console: Console, email: str, password: str) -> str:
    try:
        checked = RegisterIn.model_validate({"email": email, "password": password, "name": "x"})
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            console.print(f"[red]--{field}:[/red] {err['msg']}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    return str(checked.email).lower()


@app.command("create-user")
def create_user(
    email: str = typer.Option(..., "--email", help="login email"),
    password: str = typer.Option(
        ..., "--password", help=f"{MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters"
    ),
    name: str = typer.Option("", "--name", help="display name"),
    org: str | None = typer.Option(
        None, "--org", help="organization slug or name to join; created if absent"
    ),
    tier: Annotated[
        Tier | None, typer.Option("--tier", help="subscription tier of the organization")
    ] = None,
    role: Annotated[Role, typer.Option("--role", help="role in the organization")] = Role.owner,
    platform_admin: bool = typer.Option(
        False, "--platform-admin", help="may moderate the marketplace"
    ),
) -> None:
    """Create a user and their membership (a personal organization unless --org is given)."""
    console = Console(stderr=True, soft_wrap=True)
    settings = settings_or_exit(console)
    clean_email = _validate_credentials(console, email, password)
    if org is not None and not org.strip():
        console.print("[red]--org:[/red] must not be empty")
        raise typer.Exit(EXIT_USAGE)

    async def work(svc: AccountService) -> tuple[str, str, str, str]:
        account = await svc.create_account(
            email=clean_email,
            password=password,
            name=name or clean_email.split("@", 1)[0],
            org_name=org.strip() if org else None,
            tier=tier,
            role=role,
            platform_admin=platform_admin,
        )
        o = account.organization
        return str(account.user.id), o.slug, o.tier.value, account.membership.role.value

    user_id, slug, org_tier, member_role = _run_or_exit(console, settings, work)
    Console(soft_wrap=True).print(
        f"created user {clean_email} ({user_id}) as {member_role} of {slug} [{org_tier}]"
        + (" with platform admin rights" if platform_admin else ""),
        highlight=False,
    )


@app.command("set-tier")
def set_tier(
    org: Annotated[str, typer.Argument(help="organization slug or name")],
    tier: Annotated[Tier, typer.Argument(help="free, pro or enterprise")],
) -> None:
    """Change an organization's subscription tier."""
    console = Console(stderr=True, soft_wrap=True)
    settings = settings_or_exit(console)

    async def work(svc: AccountService) -> str:
        return (await svc.set_tier(org, tier)).slug

    slug = _run_or_exit(console, settings, work)
    Console(soft_wrap=True).print(
        f"organization {slug} is now on the {tier.value} tier", highlight=False
    )


def _run_or_exit(
    console: Console, settings: Settings, work: Callable[[AccountService], Awaitable[T]]
) -> T:
    try:
        return run_in_transaction(settings, work)
    except ProofPixError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    except Exception as exc:  # database unreachable, migration failure: one line, no trace
        console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
