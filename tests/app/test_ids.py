"""One parser for identifiers from outside; each caller picks the error a bad one deserves."""

from __future__ import annotations

import uuid

import pytest

from proofpix_plugins.errors import NotFound
from proofpix_plugins.kit.ids import as_uuid


def test_a_uuid_passes_through_and_its_text_parses() -> None:
    value = uuid.uuid4()
    assert as_uuid(value) is value
    assert as_uuid(str(value)) == value


def test_a_malformed_id_raises_the_callers_error() -> None:
    with pytest.raises(ValueError, match="malformed identifier"):
        as_uuid("not-a-uuid")
    with pytest.raises(NotFound, match="file not found"):
        as_uuid("../etc", NotFound, "file not found")
