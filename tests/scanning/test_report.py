"""Report policy and its JSON / SARIF 2.1.0 renderings."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proofpix_plugins.errors import BadRequest
from proofpix_plugins.scanning import Check, ScanReport, default_checks, scan_package
from proofpix_plugins.scanning.context import ScanContext
from proofpix_plugins.scanning.findings import Finding, Severity
from proofpix_plugins.scanning.rules import RULES, rule
from tests.packages.builders import HANDLER_SOURCE, Raw, make_ppx
from tests.scanning.corpus import AWS_KEY

_SARIF_LEVELS = {"none", "note", "warning", "error"}


def _scan(path: Path, **kwargs: Any) -> ScanReport:
    return scan_package(path, platform_version="0.1.0", python_version="3.11.7", **kwargs)


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    body = HANDLER_SOURCE + "\nimport socket\nimport hashlib\nx = hashlib.md5(b'').hexdigest()\n"
    return make_ppx(tmp_path / "evil.ppx", {"plugin/__init__.py": body})


def test_json_report_shape(evil):
    report = _scan(evil)
    data = json.loads(json.dumps(report.to_json()))
    assert data["rejected"] is True
    assert data["sha256"] == report.sha256
    assert data["pluginId"] == "acme.sample"
    assert data["summary"]["critical"] >= 1
    first = data["findings"][0]
    assert set(first) == {"ruleId", "severity", "message", "file", "line", "column", "snippet",
                          "check"}
    assert first["severity"] == "critical"
    assert {c["id"] for c in data["checks"]} >= {"archive", "manifest", "bandit", "secrets"}
    assert data["manifest"]["id"] == "acme.sample"


def test_findings_are_ordered_most_severe_first(evil):
    ranks = [f.severity.rank for f in _scan(evil).findings]
    assert ranks == sorted(ranks, reverse=True)


def test_sarif_is_structurally_valid_2_1_0(evil):
    sarif = json.loads(json.dumps(_scan(evil).to_sarif()))
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "proofpix-scanner"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for r in driver["rules"]:
        assert r["shortDescription"]["text"]
        assert r["defaultConfiguration"]["level"] in _SARIF_LEVELS
    assert run["results"]
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in _SARIF_LEVELS
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"]
        if "region" in physical:
            assert physical["region"]["startLine"] >= 1
            assert physical["region"].get("startColumn", 1) >= 1


def test_critical_finding_is_a_sarif_error(evil):
    results = _scan(evil).to_sarif()["runs"][0]["results"]
    socket = next(r for r in results if r["ruleId"] == "PPX-MOD-SOCKET")
    assert socket["level"] == "error"
    assert socket["properties"]["blocking"] is True


def test_unreadable_archive_still_yields_a_report(tmp_path):
    path = tmp_path / "junk.ppx"
    path.write_bytes(b"junk")
    report = _scan(path)
    assert report.rejected
    assert report.sha256 is None
    assert report.manifest is None
    assert [f.rule_id for f in report.findings] == ["PPX-ARC-NOT-ZIP"]
    assert all(c.skipped for c in report.checks if c.id != "archive")
    assert report.to_sarif()["runs"][0]["results"][0]["ruleId"] == "PPX-ARC-NOT-ZIP"


def test_secrets_never_appear_in_reports(tmp_path):
    body = HANDLER_SOURCE + f"\nAWS_KEY = {AWS_KEY!r}\npassword = 'Sup3rS3cretPassw0rd'\n"
    report = _scan(make_ppx(tmp_path / "s.ppx", {"plugin/__init__.py": body}))
    rendered = json.dumps(report.to_json()) + json.dumps(report.to_sarif())
    assert "PPX-SECRET-AWS" in report.rule_ids()
    assert AWS_KEY not in rendered
    assert "Sup3rS3cretPassw0rd" not in rendered


def test_unenforced_check_only_warns(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", {"plugin/__init__.py": HANDLER_SOURCE + "import socket\n"})
    checks = [c if c.id != "dangerous-modules" else _unenforced(c) for c in default_checks()]
    report = _scan(path, checks=checks)
    assert "PPX-MOD-SOCKET" in report.rule_ids()
    assert not report.rejected


def _unenforced(check: Check) -> Check:
    import dataclasses

    return dataclasses.replace(check, enforced=False)  # type: ignore[type-var]


def test_optional_checks_can_be_disabled_required_ones_cannot():
    checks = default_checks(disabled=["bandit"])
    assert not next(c for c in checks if c.id == "bandit").enabled
    with pytest.raises(BadRequest) as info:
        default_checks(disabled=["secrets", "nope"])
    assert {e.rule for e in info.value.errors} == {"required-check", "unknown-check"}


def test_every_default_check_satisfies_the_protocol():
    for check in default_checks():
        assert isinstance(check, Check)
        assert check.message
        assert check.id


@dataclass
class _Exploding:
    id: str = "exploding"
    enabled: bool = True
    enforced: bool = True
    required: bool = False
    message: str = "raises on purpose"

    def run(self, ctx: ScanContext) -> list[Finding]:
        raise RuntimeError("boom")


def test_a_crashing_check_fails_the_scan_closed(tmp_path, caplog):
    report = _scan(make_ppx(tmp_path / "p.ppx"), checks=[*default_checks(), _Exploding()])
    assert report.rejected
    assert "PPX-SCAN-ERROR" in report.rule_ids()


def test_bandit_severity_is_capped_for_quality_only_tests(tmp_path):
    body = HANDLER_SOURCE + "import hashlib\nh = hashlib.md5(b'x')\n"
    m = {"id": "acme.sample", "name": "Sample", "version": "1.0.0", "type": "analyzer",
         "hooks": [{"name": "file:uploaded", "handler": "on_upload"}],
         "permissions": ["files", "crypto"]}
    report = _scan(make_ppx(tmp_path / "p.ppx", {"plugin/__init__.py": body}, m))
    md5 = next(f for f in report.findings if f.rule_id == "PPX-BANDIT-B324")
    assert md5.severity is Severity.medium
    assert not report.rejected


def test_rule_lookup_knows_bandit_ids_and_rejects_unknown():
    assert rule("PPX-BANDIT-B999").id == "PPX-BANDIT-B999"
    with pytest.raises(KeyError):
        rule("PPX-NOPE")
    assert all(r.id == key for key, r in RULES.items())


def test_scan_restores_the_garbage_collector_state(tmp_path):
    import gc

    path = make_ppx(tmp_path / "p.ppx")
    assert gc.isenabled()
    _scan(path)
    assert gc.isenabled()
    gc.disable()
    try:
        _scan(path)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("body", [
    "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
    "x = " + "1 + " * 50_000 + "1\n",
    "x = " + "[" * 3000 + "]" * 3000 + "\n",
])
def test_pathologically_nested_code_is_rejected_not_crashing(tmp_path, body):
    # Stored, not deflated: such repetitive text would trip the zip-bomb ratio rule first.
    path = make_ppx(tmp_path / "p.ppx",
                    extra=[Raw("plugin/extra.py", body.encode(), compress=zipfile.ZIP_STORED)])
    report = _scan(path)
    assert report.rejected
    assert report.rule_ids() & {"PPX-SRC-SYNTAX", "PPX-BANDIT-ERROR"}
