"""The manifest parser on arbitrary input: a :class:`PackageError` naming every problem, or a
manifest — never any other exception (issue #17)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.manifest import Manifest, parse_manifest

FIELDS = ["id", "name", "version", "description", "entry", "type", "category", "hooks",
          "permissions", "author", "license", "tags", "network", "engines", "resources",
          "configSchema", "homepage", "repository"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)), inner,
                        max_size=6),
    ),
    max_leaves=40,
)
# Objects shaped like a manifest: the known keys with arbitrary values, so that validation
# goes past the JSON layer into the field and cross-field checks.
manifest_like = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS))

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _parse(raw: bytes) -> None:
    refused: PackageError | None = None
    try:
        manifest = parse_manifest(raw)
    except PackageError as exc:
        refused = exc
    if refused is None:
        assert isinstance(manifest, Manifest)
        return
    assert refused.errors, "a refusal names at least one problem"
    for error in refused.errors:
        assert error.field
        assert error.message


@FUZZ
@given(json_values)
def test_any_json_value_is_a_manifest_or_a_package_error(value: Any) -> None:
    _parse(json.dumps(value).encode())


@FUZZ
@given(manifest_like)
def test_any_manifest_shaped_object_is_a_manifest_or_a_package_error(value: dict[str, Any]) -> None:
    _parse(json.dumps(value).encode())


@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes_are_a_manifest_or_a_package_error(raw: bytes) -> None:
    _parse(raw)


@FUZZ
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", "{\"a\":"]))
def test_deep_nesting_is_refused_not_a_recursion_error(depth: int, opener: str) -> None:
    _parse((opener * depth).encode())
