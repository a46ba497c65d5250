"""The README's configuration table names every setting config.py defines."""

from __future__ import annotations

from pathlib import Path

import pytest

from proofpix_plugins.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_readme_documents_every_setting(field: str) -> None:
    assert f"`PROOFPIX_{field.upper()}`" in README.read_text(encoding="utf-8")
