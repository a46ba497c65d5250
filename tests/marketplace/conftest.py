"""Marketplace tests: the app fixture with seeded listings (discovery) and the real plugin
platform of tests/plugins (installs, updates, reviews, the kill switch)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.marketplace.listing_seed import Seeder
from tests.plugins.conftest import admin, api, data_dir, platform, platform_settings, ppx_dir

__all__ = ["admin", "api", "data_dir", "platform", "platform_settings", "ppx_dir", "seed"]


@pytest.fixture
def seed(app: FastAPI, tmp_path: Path) -> Seeder:
    return Seeder(app, tmp_path)
