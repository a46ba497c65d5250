"""The shared fixtures hand out what they promise."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.fixtures.db import POSTGRES_ENV, REDIS_ENV, REQUIRE_ENV

ROOT = Path(__file__).resolve().parents[2]

# A suite of its own on the real fixtures: one PostgreSQL case, one Redis case.
_SERVICE_CASES = """
def test_needs_postgres(postgres_database):
    pass

def test_needs_redis(redis_url):
    pass
"""


def test_redis_url_points_at_a_server_that_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_db_url_is_an_async_driver_url(db_url: str) -> None:
    assert db_url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://"))


def _run_service_cases(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["tests.fixtures.db"]')
    pytester.makepyfile(_SERVICE_CASES)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfEs")


@pytest.fixture
def no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POSTGRES_ENV, raising=False)
    monkeypatch.delenv(REDIS_ENV, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


@pytest.mark.usefixtures("no_services")
def test_unconfigured_services_skip_by_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    result = _run_service_cases(pytester)
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines([f"*{POSTGRES_ENV}*", f"*{REDIS_ENV}*"])


@pytest.mark.usefixtures("no_services")
def test_unconfigured_services_fail_when_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "1")
    result = _run_service_cases(pytester)
    result.assert_outcomes(errors=2)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*{POSTGRES_ENV}*{REQUIRE_ENV}*", f"*{REDIS_ENV}*{REQUIRE_ENV}*"])
