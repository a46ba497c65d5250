"""Discovery tests run on the app fixture (SQLite and PostgreSQL) with seeded listings."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.marketplace.listing_seed import Seeder


@pytest.fixture
def seed(app: FastAPI, tmp_path: Path) -> Seeder:
    return Seeder(app, tmp_path)
