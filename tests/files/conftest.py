"""The platform fixtures of tests/plugins (a running app with the real sandbox), shared here.

``platform_settings`` adds the test-only switch that lets a plugin's ``http`` capability reach
loopback for the connectors' public hook hosts (their receivers run on 127.0.0.1; see
``shelf_kit.resolve_locally``); every other refused range stays refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proofpix_plugins.config import Settings
from tests.files.shelf_kit import LOCAL_NAMES
from tests.fixtures.app import build_test_settings
from tests.plugins.conftest import admin, api, data_dir, platform, ppx_dir

__all__ = ["admin", "api", "data_dir", "platform", "platform_settings", "ppx_dir"]


@pytest.fixture
def platform_settings(db_url: str, data_dir: Path) -> Settings:
    return build_test_settings(db_url, data_dir / "data", plugin_metrics_flush_seconds=3600,
                               http_test_allow_loopback=list(LOCAL_NAMES))
