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


def test_generated_request_ids_are_version_4_uuids_in_hex() -> None:
    import uuid

    from proofpix_plugins.kit.request_id import accept_or_generate, new_id

    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for rid in [*list(ids)[:100], accept_or_generate(None), accept_or_generate(b"bad id!")]:
        parsed = uuid.UUID(hex=rid)
        assert parsed.hex == rid
        assert len(rid) == 32
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_uuid_text_is_str_of_the_uuid() -> None:
    import uuid

    from proofpix_plugins.kit.ids import uuid_text

    for value in (uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
        assert uuid_text(value) == str(value)
        assert uuid_text(value) == str(value)  # remembered, still equal
