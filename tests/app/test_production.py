"""Production mode refuses generated or default secrets, through create_app and serve."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from proofpix_plugins.cli.main import app as cli
from proofpix_plugins.config import Environment, InsecureConfiguration
from tests.fixtures.app import StartApp, build_test_settings, new_signing_pem


async def test_production_app_refuses_to_start_with_generated_secrets(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url, tmp_path / "data", env=Environment.production, jwt_secret=None
    )

    with pytest.raises(InsecureConfiguration, match="PROOFPIX_JWT_SECRET"):
        async with start_app(settings):
            pass


async def test_production_app_refuses_a_short_jwt_secret(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url,
        tmp_path / "data",
        env=Environment.production,
        jwt_secret=SecretStr("too-short"),
        config_key=SecretStr("k" * 44),
        signing_key=SecretStr(new_signing_pem()),
    )

    with pytest.raises(InsecureConfiguration, match="at least 32"):
        async with start_app(settings):
            pass


async def test_production_app_starts_with_explicit_secrets(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url,
        tmp_path / "data",
        env=Environment.production,
        jwt_secret=SecretStr(secrets.token_urlsafe(48)),
        config_key=SecretStr("k" * 44),
        signing_key=SecretStr(new_signing_pem()),
    )

    async with start_app(settings) as app:
        assert app.state.settings.env is Environment.production


def test_serve_refuses_production_with_generated_secrets_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROOFPIX_ENV", "production")
    monkeypatch.setenv("PROOFPIX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PROOFPIX_JWT_SECRET", raising=False)
    monkeypatch.delenv("PROOFPIX_CONFIG_KEY", raising=False)

    result = CliRunner().invoke(cli, ["serve", "--port", "8999"])

    assert result.exit_code == 2
    assert "refusing to start" in result.output
    assert "PROOFPIX_JWT_SECRET" in result.output


def test_serve_reports_an_invalid_setting_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROOFPIX_ENV", "staging")

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 2
    assert "PROOFPIX_ENV" in result.output


async def test_production_app_refuses_a_generated_signing_key(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url,
        tmp_path / "data",
        env=Environment.production,
        jwt_secret=SecretStr(secrets.token_urlsafe(48)),
        config_key=SecretStr("k" * 44),
        signing_key=None,
    )

    with pytest.raises(InsecureConfiguration, match="PROOFPIX_SIGNING_KEY"):
        async with start_app(settings):
            pass
