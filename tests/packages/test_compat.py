"""Engines and dependency resolution."""

from __future__ import annotations

import json

from proofpix_plugins.packages.compat import (
    as_pep440,
    check_engines,
    resolve_dependencies,
    satisfies,
)
from proofpix_plugins.packages.manifest import parse_manifest
from tests.packages.builders import manifest


def _m(**overrides: object):
    return parse_manifest(json.dumps(manifest(**overrides)).encode())


def test_no_engines_means_compatible():
    assert check_engines(_m(), "0.1.0", "3.11.7") == []


def test_engines_inside_range():
    assert check_engines(_m(engines={"proofpix": ">=0.1,<1", "python": ">=3.11"}),
                         "0.1.0", "3.11.7") == []


def test_engines_outside_range_name_field_and_rule():
    errors = check_engines(_m(engines={"proofpix": ">=1", "python": "<3.11"}), "0.1.0", "3.11.7")
    assert [(e.field, e.rule) for e in errors] == [
        ("engines.proofpix", "PPX-COMPAT-PROOFPIX"), ("engines.python", "PPX-COMPAT-PYTHON")]


def test_semver_prereleases_map_to_pep440():
    assert str(as_pep440("1.2.0-rc.1")) == "1.2.0rc1"
    assert str(as_pep440("1.2.0-beta.2")) == "1.2.0b2"
    assert str(as_pep440("1.2.0-nightly")) == "1.2.0.dev0"
    assert as_pep440("not a version") is None


def test_prerelease_sorts_before_its_release():
    assert as_pep440("1.2.0-nightly") < as_pep440("1.2.0")  # type: ignore[operator]
    assert satisfies("1.2.0-nightly", "<=1.2.0")
    assert not satisfies("1.2.0-nightly", ">=1.2.0")
    # PEP 440: "<1.2.0" excludes 1.2.0's own pre-releases; we follow the standard.
    assert not satisfies("1.2.0-rc.1", "<1.2.0")
    assert satisfies("2.0.0-rc.1", ">=1.0,<3")


def test_dependencies_resolve_against_installed():
    m = _m(dependencies={"acme.exif-reader": ">=1.0,<2", "acme.other": ">=0.1"})
    assert resolve_dependencies(m, {"acme.exif-reader": "1.4.2", "acme.other": "0.1.0"}) == []


def test_missing_and_out_of_range_dependencies():
    m = _m(dependencies={"acme.exif-reader": ">=1.0,<2", "acme.other": ">=0.1"})
    errors = resolve_dependencies(m, {"acme.exif-reader": "2.0.0"})
    assert [(e.field, e.rule, e.value) for e in errors] == [
        ('dependencies["acme.exif-reader"]', "PPX-DEP-VERSION", "2.0.0"),
        ('dependencies["acme.other"]', "PPX-DEP-MISSING", "acme.other"),
    ]


def test_garbage_installed_version_does_not_satisfy():
    m = _m(dependencies={"acme.other": ">=0.1"})
    assert [e.rule for e in resolve_dependencies(m, {"acme.other": "banana"})] == [
        "PPX-DEP-VERSION"]
