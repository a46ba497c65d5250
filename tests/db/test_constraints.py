"""The database itself refuses invalid rows, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models import (
    Membership,
    Organization,
    Plugin,
    PluginPermission,
    PluginStatus,
    PluginStorage,
    Role,
    User,
)
from tests.db.helpers import make_org, make_user


def _plugin(org: Organization, plugin_id: str = "acme.exif") -> Plugin:
    return Plugin(
        organization_id=org.id,
        plugin_id=plugin_id,
        name="Exif",
        version="1.0.0",
        type="processor",
        category="metadata",
        artifact_sha256="0" * 64,
        install_path="/plugins/x",
    )


async def test_duplicate_membership_is_rejected(session: AsyncSession) -> None:
    org, user = await make_org(session), await make_user(session)
    session.add(Membership(user_id=user.id, organization_id=org.id, role=Role.owner))
    await session.flush()
    session.add(Membership(user_id=user.id, organization_id=org.id, role=Role.member))
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.flush()


async def test_same_plugin_twice_in_one_org_is_rejected(session: AsyncSession) -> None:
    org = await make_org(session)
    session.add_all([_plugin(org), _plugin(org)])
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.flush()


async def test_same_plugin_in_two_orgs_is_allowed(session: AsyncSession) -> None:
    a, b = await make_org(session), await make_org(session)
    session.add_all([_plugin(a), _plugin(b)])
    await session.flush()
    assert await session.scalar(select(func.count()).select_from(Plugin)) == 2


async def test_emails_are_stored_lowercased_so_uniqueness_ignores_case(
    session: AsyncSession,
) -> None:
    await make_user(session, "Ada@Example.COM")
    session.add(User(email="ada@example.com", password_hash="x"))
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.flush()


async def test_a_mixed_case_email_written_around_the_orm_is_rejected(
    session: AsyncSession,
) -> None:
    with pytest.raises(IntegrityError, match="email_lowercase"):
        await session.execute(
            text(
                "INSERT INTO users (id, email, password_hash, name, is_platform_admin, "
                "is_active, created_at) VALUES (:id, 'Ada@x.com', 'x', '', false, true, :now)"
            ),
            {"id": uuid.uuid4().hex, "now": datetime.now(UTC).replace(tzinfo=None)},
        )


async def test_unknown_plugin_status_is_rejected_by_the_database(session: AsyncSession) -> None:
    org = await make_org(session)
    plugin = _plugin(org)
    session.add(plugin)
    await session.flush()
    with pytest.raises(IntegrityError, match="plugin_status"):
        await session.execute(
            text("UPDATE plugins SET status = 'hacked' WHERE plugin_id = 'acme.exif'")
        )


async def test_unknown_enum_value_is_refused_before_reaching_the_database(
    session: AsyncSession,
) -> None:
    org = await make_org(session)
    plugin = _plugin(org)
    plugin.status = "hacked"  # type: ignore[assignment]
    session.add(plugin)
    with pytest.raises(StatementError, match="hacked"):
        await session.flush()


async def test_row_pointing_at_a_missing_organization_is_rejected(session: AsyncSession) -> None:
    # On SQLite this holds only because every connection turns foreign_keys on.
    session.add(_plugin(Organization(id=uuid.uuid4(), name="ghost", slug="ghost")))
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        await session.flush()


async def test_deleting_an_organization_removes_its_plugins_and_their_permissions(
    session: AsyncSession,
) -> None:
    org = await make_org(session)
    plugin = _plugin(org)
    session.add(plugin)
    await session.flush()
    session.add(
        PluginPermission(
            plugin_row_id=plugin.id, organization_id=org.id, kind="permission", value="storage"
        )
    )
    await session.flush()
    await session.execute(text("DELETE FROM organizations"))
    assert await session.scalar(select(func.count()).select_from(Plugin)) == 0
    assert await session.scalar(select(func.count()).select_from(PluginPermission)) == 0


async def test_duplicate_storage_key_for_one_plugin_is_rejected(session: AsyncSession) -> None:
    org = await make_org(session)
    for _ in range(2):
        session.add(
            PluginStorage(organization_id=org.id, plugin_id="acme.exif", key="k", value={"a": 1})
        )
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.flush()


async def test_timestamps_come_back_timezone_aware_in_utc(session: AsyncSession) -> None:
    org = await make_org(session)
    plus_two = timezone(timedelta(hours=2))
    plugin = _plugin(org)
    plugin.loaded_at = datetime(2026, 5, 1, 12, 0, tzinfo=plus_two)
    session.add(plugin)
    await session.commit()
    session.expunge_all()
    stored = await session.scalar(select(Plugin))
    assert stored is not None
    assert stored.loaded_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert stored.loaded_at.utcoffset() == timedelta(0)
    assert stored.installed_at.tzinfo is not None


async def test_naive_timestamps_are_refused(session: AsyncSession) -> None:
    org = await make_org(session)
    plugin = _plugin(org)
    plugin.loaded_at = datetime(2026, 5, 1, 12, 0)  # naive on purpose
    session.add(plugin)
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()


async def test_utc_timestamps_sort_chronologically_across_offsets(session: AsyncSession) -> None:
    org = await make_org(session)
    early = datetime(2026, 5, 1, 23, 0, tzinfo=timezone(timedelta(hours=5)))  # 18:00 UTC
    late = datetime(2026, 5, 1, 19, 0, tzinfo=UTC)
    a, b = _plugin(org, "a.one"), _plugin(org, "b.two")
    a.loaded_at, b.loaded_at = late, early
    session.add_all([a, b])
    await session.flush()
    ordered = (await session.scalars(select(Plugin.plugin_id).order_by(Plugin.loaded_at))).all()
    assert ordered == ["b.two", "a.one"]


async def test_status_enum_round_trips_as_the_enum(session: AsyncSession) -> None:
    org = await make_org(session)
    session.add(_plugin(org))
    await session.commit()
    session.expunge_all()
    stored = await session.scalar(select(Plugin))
    assert stored is not None
    assert stored.status is PluginStatus.installed
    raw = await session.scalar(text("SELECT status FROM plugins"))
    assert raw == "installed"
