"""Authoring rules (scanning/checks/authoring.py): hooks without the permission the bus needs,
unsatisfiable config schemas, bad defaults, required keys without default; plugin.json lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proofpix_plugins.scanning.checks.authoring import manifest_line, unsatisfiable
from proofpix_plugins.scanning.scanner import default_checks, scan_package
from tests.packages.builders import HANDLER_SOURCE, make_ppx, manifest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _scan(tmp_path: Path, **overrides: Any):
    path = make_ppx(tmp_path / "p.ppx", {"plugin/__init__.py": HANDLER_SOURCE},
                    manifest_data=manifest(**overrides))
    checks = default_checks(disabled=["bandit"])
    return scan_package(path, platform_version="0.1.0", python_version="3.11.7", checks=checks)


def _by_rule(report, rule_id: str):
    return [f for f in report.findings if f.rule_id == rule_id]


def test_file_uploaded_without_files_is_flagged_with_its_line(tmp_path: Path) -> None:
    report = _scan(tmp_path, permissions=["storage"])
    [finding] = _by_rule(report, "PPX-HOOK-PERMISSION")
    assert finding.file == "plugin.json"
    assert finding.line is not None
    assert finding.line > 1
    assert "'files'" in finding.message
    assert "file:uploaded" in finding.message


def test_file_uploaded_with_files_is_not_flagged(tmp_path: Path) -> None:
    assert _by_rule(_scan(tmp_path), "PPX-HOOK-PERMISSION") == []


@pytest.mark.parametrize(("prop", "why"), [
    ({"type": "string", "enum": []}, "enum is empty"),
    ({"type": "integer", "minimum": 10, "maximum": 1}, "minimum is above maximum"),
    ({"type": "string", "minLength": 5, "maxLength": 2}, "minLength is above maxLength"),
    ({"type": "integer", "enum": ["a", "b"]}, "no enum value has the type integer"),
    ({"type": "string", "const": 3}, "const 3 is not of type string"),
    ({"type": []}, "type is an empty list"),
    ({"type": "integer", "minimum": 1.2, "maximum": 1.8}, "no integer lies between"),
    ({"type": "number", "exclusiveMinimum": 5, "maximum": 5}, "no number lies between"),
    ({"not": {}}, "forbids every value"),
    (False, "no value is allowed"),
])
def test_unsatisfiable_property_schemas(prop: Any, why: str) -> None:
    assert why in (unsatisfiable(prop) or "")


@pytest.mark.parametrize("prop", [
    {"type": "string"}, {"type": "integer", "minimum": 1, "maximum": 1},
    {"type": ["string", "null"], "enum": [None]}, {"anyOf": [{"enum": []}, {"type": "string"}]},
])
def test_satisfiable_property_schemas(prop: Any) -> None:
    assert unsatisfiable(prop) is None


def test_unsatisfiable_config_is_blocking_with_its_line(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"level": {"type": "integer", "minimum": 9,
                                                         "maximum": 3}}}
    report = _scan(tmp_path, config_schema=schema)
    [finding] = _by_rule(report, "PPX-CONFIG-UNSATISFIABLE")
    assert "level" in finding.message
    assert finding.line is not None
    assert report.rejected


def test_required_key_outside_closed_properties(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {}, "required": ["token"],
              "additionalProperties": False}
    [finding] = _by_rule(_scan(tmp_path, config_schema=schema), "PPX-CONFIG-UNSATISFIABLE")
    assert "'token'" in finding.message


def test_invalid_default_is_blocking(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "default": "five"}}}
    report = _scan(tmp_path, config_schema=schema)
    assert _by_rule(report, "PPX-CONFIG-DEFAULT-INVALID")
    assert report.rejected


def test_required_without_default_is_a_warning(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["url", "mode"], "properties": {
        "url": {"type": "string"}, "mode": {"type": "string", "default": "fast"}}}
    report = _scan(tmp_path, config_schema=schema)
    [finding] = _by_rule(report, "PPX-CONFIG-REQUIRED-NO-DEFAULT")
    assert "'url'" in finding.message
    assert finding.line is not None
    assert not finding.severity.blocking
    assert not report.rejected


def test_examples_report(tmp_path: Path) -> None:
    """The shipped examples: none binds a hook without the permission it needs (upload-counter
    did until it asked for ``files``)."""
    found = {}
    for example in sorted(p for p in EXAMPLES.iterdir() if (p / "plugin.json").is_file()):
        meta = json.loads((example / "plugin.json").read_text())
        files = {str(p.relative_to(example)): p.read_text() for p in example.rglob("*.py")}
        path = make_ppx(tmp_path / f"{example.name}.ppx", files, meta)
        report = scan_package(path, platform_version="0.1.0", python_version="3.11.7",
                              checks=default_checks(disabled=["bandit"]))
        found[example.name] = sorted({f.rule_id for f in report.findings
                                      if f.check == "authoring"})
    assert all("PPX-HOOK-PERMISSION" not in rules for rules in found.values()), found
    assert found["upload-counter"] == [], found


def test_manifest_findings_carry_the_field_line(tmp_path: Path) -> None:
    meta = manifest(hooks=[{"name": "file:uploaded", "handler": "on_upload"},
                           {"name": "file:process", "handler": "missing_one"}])
    path = make_ppx(tmp_path / "h.ppx", {"plugin/__init__.py": HANDLER_SOURCE}, meta)
    report = scan_package(path, platform_version="0.1.0", python_version="3.11.7",
                          checks=default_checks(disabled=["bandit"]))
    [finding] = _by_rule(report, "PPX-STRUCT-NO-HANDLER")
    text = (json.dumps(meta, indent=2)).splitlines()
    assert finding.line is not None
    assert '"handler": "missing_one"' in text[finding.line - 1]


def test_manifest_line_paths() -> None:
    text = '{\n  "id": "a.b",\n  "hooks": [\n    {"handler": "x"},\n    {"handler": "y"}\n  ]\n}'
    assert manifest_line(text, "id") == 2
    assert manifest_line(text, "hooks[1].handler") == 5
    assert manifest_line(text, "hooks[0].handler") == 4
    assert manifest_line(text, "nothing") is None
