"""The corpus: every malicious package is rejected for its rule; every valid one passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from proofpix_plugins.scanning import ScanReport, scan_package
from proofpix_plugins.scanning.findings import Severity
from proofpix_plugins.scanning.rules import RULES
from tests.scanning.corpus import EXAMPLE_NAMES, MALICIOUS, VALID, write_example_ppx

PLATFORM, PYTHON = "0.1.0", "3.11.7"


def _scan(path: Path) -> ScanReport:
    return scan_package(path, platform_version=PLATFORM, python_version=PYTHON)


def _blocking(report: ScanReport) -> list[str]:
    return [f"{f.rule_id} {f.location} {f.message}" for f in report.blocking]


@pytest.mark.parametrize("case", MALICIOUS, ids=lambda c: c.name)
def test_malicious_package_is_rejected_with_expected_rule(case, tmp_path):
    report = _scan(case.build(tmp_path))
    assert report.rejected
    assert case.expected in {f.rule_id for f in report.blocking}, sorted(report.rule_ids())


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_valid_package_passes_without_blocking_findings(case, tmp_path):
    report = _scan(case.build(tmp_path))
    assert not report.rejected, _blocking(report)
    assert report.manifest is not None


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_plugin_passes_without_blocking_findings(name, tmp_path):
    report = _scan(write_example_ppx(name, tmp_path))
    assert not report.rejected, _blocking(report)
    assert report.manifest is not None
    assert report.manifest.id == f"proofpix.{name}"


def test_corpus_is_big_enough_and_covers_all_four_types():
    types = {c.manifest["type"] for c in VALID if isinstance(c.manifest, dict)}
    assert types == {"analyzer", "processor", "connector", "utility"}
    assert len(VALID) + len(EXAMPLE_NAMES) >= 10
    assert len(MALICIOUS) >= 40


def test_corpus_covers_every_rule_class():
    covered = {c.expected for c in MALICIOUS}
    prefixes = {"PPX-ARC-", "PPX-MAN-", "PPX-STRUCT-", "PPX-COMPAT-", "PPX-SRC-", "PPX-DYN-",
                "PPX-ESC-", "PPX-MOD-", "PPX-OBF-", "PPX-FS-", "PPX-PERM-", "PPX-SECRET-",
                "PPX-BANDIT-"}
    for prefix in prefixes:
        registered = {r for r in RULES if r.startswith(prefix)}
        blocking = {r for r in registered if RULES[r].severity.blocking}
        assert any(c.startswith(prefix) for c in covered), prefix
        missing = blocking - covered - _NOT_IN_CORPUS
        assert not missing, f"blocking rules without a corpus case: {sorted(missing)}"


# Blocking rules exercised elsewhere (unit tests) because a package cannot trigger them
# through scan_package on its own, or only via limits the corpus does not vary.
_NOT_IN_CORPUS = {
    "PPX-MAN-ENUM", "PPX-MAN-INVALID", "PPX-ARC-TOO-LARGE", "PPX-SRC-TOO-LARGE",
    "PPX-BANDIT", "PPX-BANDIT-ERROR", "PPX-DEP-MISSING", "PPX-DEP-VERSION",
}


def test_medium_findings_alone_do_not_reject(tmp_path):
    md5 = next(c for c in VALID if c.name == "md5-analyzer")
    report = _scan(md5.build(tmp_path))
    assert not report.rejected
    assert any(f.severity is Severity.medium for f in report.findings)
    assert report.warnings
