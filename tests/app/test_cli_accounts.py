"""Operator CLI: admin create-user, admin set-tier, demo seed; exit codes 0, 1, 2."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from typer.testing import CliRunner, Result

from proofpix_plugins.accounts.epochs import HUB_CHANNEL
from proofpix_plugins.cli.main import app as cli
from proofpix_plugins.db import create_engine_for_url, create_session_factory, session_scope
from proofpix_plugins.models.accounts import Membership, Organization, Role, Tier, User

PASSWORD = "operator-password-1"


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PROOFPIX_DATABASE_URL", db_url)
    monkeypatch.setenv("PROOFPIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PROOFPIX_ENV", "test")
    return db_url


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def accounts(db_url: str) -> list[tuple[str, bool, str, Tier, Role]]:
    async def query() -> list[tuple[str, bool, str, Tier, Role]]:
        engine = create_engine_for_url(db_url)
        try:
            async with session_scope(create_session_factory(engine)) as session:
                rows = await session.execute(
                    select(
                        User.email,
                        User.is_platform_admin,
                        Organization.slug,
                        Organization.tier,
                        Membership.role,
                    )
                    .join(Membership, Membership.user_id == User.id)
                    .join(Organization, Organization.id == Membership.organization_id)
                    .order_by(User.email)
                )
                return [tuple(r) for r in rows.all()]  # type: ignore[misc]
        finally:
            await engine.dispose()

    return asyncio.run(query())


def test_create_user_with_org_tier_role_and_platform_admin(env: str) -> None:
    result = run(
        "admin",
        "create-user",
        "--email",
        "Ops@Example.com",
        "--password",
        PASSWORD,
        "--org",
        "Acme Inc",
        "--tier",
        "enterprise",
        "--role",
        "admin",
        "--platform-admin",
    )

    assert result.exit_code == 0, result.output
    assert "created user ops@example.com" in result.output
    assert accounts(env) == [("ops@example.com", True, "acme-inc", Tier.enterprise, Role.admin)]


def test_create_user_without_org_gets_a_personal_free_org_as_owner(env: str) -> None:
    assert (
        run("admin", "create-user", "--email", "a@example.com", "--password", PASSWORD).exit_code
        == 0
    )

    [(_, admin, _, tier, role)] = accounts(env)
    assert (admin, tier, role) == (False, Tier.free, Role.owner)


def test_create_user_joins_an_existing_org_by_slug(env: str) -> None:
    run(
        "admin",
        "create-user",
        "--email",
        "a@example.com",
        "--password",
        PASSWORD,
        "--org",
        "Acme Inc",
        "--tier",
        "pro",
    )

    result = run(
        "admin",
        "create-user",
        "--email",
        "b@example.com",
        "--password",
        PASSWORD,
        "--org",
        "acme-inc",
        "--role",
        "member",
    )

    assert result.exit_code == 0, result.output
    assert [(r[2], r[3], r[4]) for r in accounts(env)] == [
        ("acme-inc", Tier.pro, Role.owner),
        ("acme-inc", Tier.pro, Role.member),
    ]


def test_create_user_refuses_a_duplicate_email_exit_1(env: str) -> None:
    run("admin", "create-user", "--email", "a@example.com", "--password", PASSWORD)

    result = run("admin", "create-user", "--email", "A@example.com", "--password", PASSWORD)

    assert result.exit_code == 1
    assert "already exists" in result.output


def test_create_user_refuses_bad_email_and_weak_password_exit_2(env: str) -> None:
    result = run("admin", "create-user", "--email", "nope", "--password", "short")

    assert result.exit_code == 2
    assert "--email" in result.output
    assert "--password" in result.output
    assert accounts(env) == []


def test_create_user_refuses_an_unknown_tier_exit_2(env: str) -> None:
    result = run(
        "admin", "create-user", "--email", "a@example.com", "--password", PASSWORD, "--tier", "gold"
    )

    assert result.exit_code == 2


def test_set_tier_by_slug_or_name(env: str) -> None:
    run(
        "admin",
        "create-user",
        "--email",
        "a@example.com",
        "--password",
        PASSWORD,
        "--org",
        "Acme Inc",
    )

    by_slug = run("admin", "set-tier", "acme-inc", "pro")
    by_name = run("admin", "set-tier", "Acme Inc", "enterprise")

    assert (by_slug.exit_code, by_name.exit_code) == (0, 0)
    assert accounts(env)[0][3] is Tier.enterprise


def test_set_tier_of_an_unknown_org_exits_1(env: str) -> None:
    result = run("admin", "set-tier", "nobody", "pro")

    assert result.exit_code == 1
    assert "no organization" in result.output


def test_demo_seed_creates_an_enterprise_org_and_prints_the_password_once(env: str) -> None:
    first = run("demo", "seed")
    second = run("demo", "seed")

    assert first.exit_code == second.exit_code == 0
    password = re.search(r"password \(shown once\): (\S+)", first.output)
    assert password is not None
    assert password.group(1) not in second.output
    assert "already seeded" in second.output
    assert accounts(env) == [("demo@proofpix.dev", True, "demo-co", Tier.enterprise, Role.admin)]


def test_admin_commands_report_an_unreachable_database_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROOFPIX_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("PROOFPIX_DATA_DIR", str(tmp_path))

    result = run("admin", "set-tier", "acme", "pro")

    assert result.exit_code == 1
    assert "error:" in result.output
    assert "Traceback" not in result.output


def test_set_tier_tells_running_api_processes_to_drop_cached_auth_epochs(
    env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("admin", "create-user", "--email", "a@example.com", "--password", PASSWORD,
        "--org", "Acme", "--tier", "enterprise")
    monkeypatch.setenv("PROOFPIX_REDIS_URL", redis_url)
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe("proofpix:plugin-events:" + HUB_CHANNEL)
    listener.get_message(timeout=2)  # the subscription's confirmation

    result = run("admin", "set-tier", "acme", "pro")

    assert result.exit_code == 0, result.output
    message = listener.get_message(timeout=5)
    listener.close()
    assert message is not None
    assert json.loads(message["data"]) == {"type": "auth_epoch", "users": None}
