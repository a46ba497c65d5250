"""plugin.json: every rule names the field, the rule and the offending value; all errors at once."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.manifest import (
    Manifest,
    compare_versions,
    format_loc,
    is_valid_host_pattern,
    parse_manifest,
)
from proofpix_plugins.runtime.egress.hosts import AllowList, parse_allow_entry
from tests.packages.builders import DROP, manifest


def _raw(**overrides: object) -> bytes:
    return json.dumps(manifest(**overrides)).encode()


def _errors(raw: bytes) -> list[tuple[str, str | None]]:
    with pytest.raises(PackageError) as info:
        parse_manifest(raw)
    return [(e.field, e.rule) for e in info.value.errors]


def test_minimal_manifest_gets_spec_defaults():
    m = parse_manifest(_raw())
    assert m.entry == "plugin"
    assert m.hooks[0].priority == 50
    assert m.resources.memory_mb == 256
    assert m.resources.timeout_ms == 5000
    assert m.resources.cpu_seconds is None
    assert m.category == "other"
    assert m.network.allow == []


def test_full_manifest_round_trips():
    raw = _raw(
        description="d", category="privacy", tags=["gps", "exif"], license="MIT",
        author={"name": "Acme", "email": "a@acme.example", "url": "https://acme.example"},
        homepage="https://acme.example/p", entry="pkg.main",
        hooks=[{"name": "file:process", "handler": "run", "priority": 0}],
        permissions=["files", "http", "secrets"], network={"allow": ["*.acme.example"]},
        config_schema={"type": "object", "properties": {"k": {"type": "string", "x-secret": True},
                                                        "n": {"type": "integer"}}},
        engines={"proofpix": ">=0.1,<1", "python": ">=3.11"},
        dependencies={"acme.other": ">=1.2"},
        resources={"memory_mb": 1024, "timeout_ms": 30000, "cpu_seconds": 1.5},
    )
    m = parse_manifest(raw)
    assert parse_manifest(json.dumps(m.model_dump(mode="json")).encode()) == m
    assert m.publisher == "acme"
    assert m.secret_config_keys() == frozenset({"k"})


def test_all_errors_are_reported_together_with_field_rule_and_value():
    raw = _raw(id="BAD", version="one", type="robot", permissions=["files", "root"],
               hooks=[{"name": "upload", "handler": "h", "priority": 500}], extra_field=1)
    with pytest.raises(PackageError) as info:
        parse_manifest(raw)
    by_field = {e.field: e for e in info.value.errors}
    assert by_field["id"].rule == "PPX-MAN-ID"
    assert by_field["id"].value == "BAD"
    assert by_field["version"].rule == "PPX-MAN-VERSION"
    assert by_field["type"].rule == "PPX-MAN-TYPE"
    assert by_field["permissions[1]"].rule == "PPX-MAN-PERMISSION"
    assert by_field["permissions[1]"].value == "root"
    assert by_field["hooks[0].name"].rule == "PPX-MAN-HOOK-NAME"
    assert by_field["hooks[0].priority"].rule == "PPX-MAN-RANGE"
    assert by_field["extra_field"].rule == "PPX-MAN-UNKNOWN-FIELD"
    assert all(e.message for e in info.value.errors)


def test_package_error_is_a_422_validation_error():
    with pytest.raises(PackageError) as info:
        parse_manifest(b"[]")
    assert info.value.status == 422
    assert info.value.errors[0].rule == "PPX-MAN-WRONG-TYPE"


@pytest.mark.parametrize(("overrides", "field", "rule"), [
    ({"name": DROP}, "name", "PPX-MAN-REQUIRED"),
    ({"version": 1}, "version", "PPX-MAN-WRONG-TYPE"),
    ({"hooks": [{"name": "a:b", "handler": "h", "priority": True}]}, "hooks[0].priority",
     "PPX-MAN-WRONG-TYPE"),
    ({"hooks": [{"name": "a:b", "handler": "h", "priority": "5"}]}, "hooks[0].priority",
     "PPX-MAN-WRONG-TYPE"),
    ({"hooks": [{"name": "a:b", "handler": "class"}]}, "hooks[0].handler", "PPX-MAN-HANDLER"),
    ({"hooks": [{"name": "A:b", "handler": "h"}]}, "hooks[0].name", "PPX-MAN-HOOK-NAME"),
    ({"hooks": [{"name": "a:b\n", "handler": "h"}]}, "hooks[0].name", "PPX-MAN-HOOK-NAME"),
    ({"id": "a.b"}, "id", "PPX-MAN-ID"),
    ({"id": "acme.sample\n"}, "id", "PPX-MAN-ID"),
    ({"id": "acme." + "x" * 25}, "id", "PPX-MAN-ID"),
    ({"id": "-acme.sample"}, "id", "PPX-MAN-ID"),
    ({"name": "x" * 101}, "name", "PPX-MAN-LENGTH"),
    ({"version": "01.0.0"}, "version", "PPX-MAN-VERSION"),
    ({"version": "v1.0.0"}, "version", "PPX-MAN-VERSION"),
    ({"category": "fun"}, "category", "PPX-MAN-CATEGORY"),
    ({"tags": ["a", "a"]}, "tags", "PPX-MAN-TAG"),
    ({"tags": ["ok"] * 21}, "tags", "PPX-MAN-LENGTH"),
    ({"author": {"name": "A", "phone": "1"}}, "author.phone", "PPX-MAN-UNKNOWN-FIELD"),
    ({"author": {"name": "A", "url": "ftp://x.example"}}, "author.url", "PPX-MAN-URL"),
    ({"homepage": "https://"}, "homepage", "PPX-MAN-URL"),
    ({"entry": "plugin.class"}, "entry", "PPX-MAN-ENTRY"),
    ({"entry": "plügin"}, "entry", "PPX-MAN-ENTRY"),
    ({"permissions": ["files", "files"]}, "permissions", "PPX-MAN-PERMISSION-DUPLICATE"),
    ({"network": {"allow": ["a.example"], "deny": []}}, "network.deny", "PPX-MAN-UNKNOWN-FIELD"),
    ({"permissions": ["http"], "network": {"allow": ["https://a.example"]}},
     "network.allow[0]", "PPX-MAN-NETWORK-HOST"),
    ({"config_schema": {"type": "array"}}, "config_schema", "PPX-MAN-CONFIG-SCHEMA"),
    ({"config_schema": {"type": "object", "properties": {"k": {"x-secret": "yes"}}}},
     "config_schema", "PPX-MAN-CONFIG-SCHEMA"),
    ({"engines": {"python": ">=3.11", "node": ">=18"}}, "engines.node", "PPX-MAN-UNKNOWN-FIELD"),
    ({"engines": {"python": "3.11"}}, "engines.python", "PPX-MAN-SPECIFIER"),
    ({"dependencies": {"Not An Id": ">=1"}}, 'dependencies["Not An Id"](key)', "PPX-MAN-ID"),
    ({"dependencies": {"acme.other": "latest"}}, 'dependencies["acme.other"]',
     "PPX-MAN-SPECIFIER"),
    ({"resources": {"memory_mb": 2048}}, "resources.memory_mb", "PPX-MAN-RANGE"),
    ({"resources": {"timeout_ms": 30001}}, "resources.timeout_ms", "PPX-MAN-RANGE"),
    ({"resources": {"cpu_seconds": 0}}, "resources.cpu_seconds", "PPX-MAN-RANGE"),
])
def test_field_rule(overrides, field, rule):
    assert (field, rule) in _errors(_raw(**overrides))


def test_nan_is_not_json():
    assert _errors(b'{"id": NaN}') == [("plugin.json", "PPX-MAN-JSON")]


def test_a_number_overflowing_to_infinity_is_refused_naming_its_field():
    schema = {"type": "object", "properties": {"x": {"type": "number", "maximum": 1}}}
    raw = _raw(config_schema=schema).replace(b'"maximum": 1', b'"maximum": 1e400')

    assert _errors(raw) == [("config_schema.properties.x.maximum", "PPX-MAN-JSON")]


def test_bom_is_refused():
    assert _errors(b"\xef\xbb\xbf" + _raw()) == [("plugin.json", "PPX-MAN-JSON")]


def test_non_utf8_is_refused():
    assert _errors(b'{"name": "\xff"}') == [("plugin.json", "PPX-MAN-JSON")]


def test_deep_nesting_is_refused_without_recursion_error():
    assert _errors(b"[" * 100_000 + b"]" * 100_000) == [("plugin.json", "PPX-MAN-JSON")]


def test_duplicate_keys_are_reported_even_when_the_rest_is_valid():
    raw = b'{"id": "acme.sample", "id": "evil.sample", "name": "Sample", "version": "1.0.0", ' \
          b'"type": "analyzer"}'
    assert _errors(raw) == [("id", "PPX-MAN-DUPLICATE-KEY")]


def test_cross_field_rules_run_when_fields_are_valid():
    errors = _errors(_raw(network={"allow": ["api.example.com"]},
                          dependencies={"acme.sample": ">=1"},
                          hooks=[{"name": "a:b", "handler": "h"}, {"name": "a:b", "handler": "h"}]))
    rules = {r for _, r in errors}
    assert rules == {"PPX-MAN-NETWORK-WITHOUT-HTTP", "PPX-MAN-DEPENDENCY",
                     "PPX-MAN-HOOK-DUPLICATE"}


def test_offending_values_are_bounded():
    with pytest.raises(PackageError) as info:
        parse_manifest(_raw(name="x" * 5000))
    shown = info.value.errors[0].as_dict()["value"]
    assert len(shown) <= 200


@pytest.mark.parametrize(("host", "ok"), [
    ("api.example.com", True), ("*.example.com", True), ("a-b.c.example", True),
    ("localhost", False), ("*.com", False), ("10.0.0.1", False), ("Example.com", False),
    ("example.com:443", False), ("*.*.example.com", False), ("-a.example.com", False),
    ("a..example.com", False), ("", False), ("*", False),
])
def test_network_host_patterns(host, ok):
    assert is_valid_host_pattern(host) is ok


# Mostly plausible host names, with the spellings the two parsers might judge differently.
_LABELS = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["xn--bcher-kva", "xn--zz", "ab--cd", "a_b", "Ab", "bücher", "0x7f", "1",
                     "-a", "a-", "", "a" * 63, "a" * 64]),
)
_HOSTS = st.builds(
    lambda wildcard, labels, dot: ("*." if wildcard else "") + ".".join(labels) + dot,
    st.booleans(), st.lists(_LABELS, min_size=1, max_size=5), st.sampled_from(["", "", "."]),
)


@settings(max_examples=500, deadline=None)
@given(_HOSTS)
@example("api.example.com")
@example("*.xn--bcher-kva.example")
@example("a--b.example.com")
def test_every_host_the_manifest_accepts_the_egress_guard_accepts_as_written(host):
    if is_valid_host_pattern(host):
        canonical, wildcard = parse_allow_entry(host)
        assert ("*." if wildcard else "") + canonical == host
        AllowList.parse([host])  # and the guard's allow list takes it without an error


def test_versions_compare_by_semver():
    assert compare_versions("1.0.0-rc.1", "1.0.0") == -1
    assert compare_versions("1.10.0", "1.9.0") == 1
    assert compare_versions("2.0.0", "2.0.0") == 0
    assert parse_manifest(_raw(version="1.0.0-alpha.2")).semver.prerelease == "alpha.2"


def test_manifest_is_immutable():
    m = parse_manifest(_raw())
    with pytest.raises(ValueError, match="frozen"):
        m.name = "Other"  # type: ignore[misc]


def test_format_loc_quotes_odd_keys():
    assert format_loc(("hooks", 0, "name")) == "hooks[0].name"
    assert format_loc(("dependencies", "a.b")) == 'dependencies["a.b"]'
    assert format_loc(()) == "(manifest)"


def test_manifest_model_forbids_extra_fields_directly():
    assert Manifest.model_config["extra"] == "forbid"
