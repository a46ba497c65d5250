"""Defaults by environment: generous for an author at a desk, strict in production."""

from __future__ import annotations

import pytest

from proofpix_plugins.config import Environment, Settings


def test_development_has_a_generous_plugin_ops_limit_and_console_logs() -> None:
    settings = Settings(env=Environment.development)

    assert settings.rate_limit_plugin_ops == "300/15minutes"
    assert settings.log_json is False


@pytest.mark.parametrize("env", [Environment.production, Environment.test])
def test_elsewhere_plugin_ops_keep_ten_per_fifteen_minutes_and_logs_are_json(
    env: Environment,
) -> None:
    settings = Settings(env=env)

    assert settings.rate_limit_plugin_ops == "10/15minutes"
    assert settings.log_json is True


def test_explicit_settings_override_the_environment_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROOFPIX_LOG_JSON", "true")
    monkeypatch.setenv("PROOFPIX_RATE_LIMIT_PLUGIN_OPS", "2/minute")

    settings = Settings(env=Environment.development)

    assert settings.log_json is True
    assert settings.rate_limit_plugin_ops == "2/minute"
