"""Findings below high: reported as warnings, never a rejection on their own."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path
from typing import Any

from proofpix_plugins.scanning import ScanReport, scan_package
from tests.packages.builders import HANDLER_SOURCE, Raw, make_ppx, manifest


def _scan(path: Path, **kwargs: Any) -> ScanReport:
    return scan_package(path, platform_version="0.1.0", python_version="3.11.7", **kwargs)


def _package(tmp_path: Path, body: str = "", **overrides: Any) -> Path:
    # Stored, not deflated: repetitive test bodies would otherwise trip the zip-bomb ratio rule.
    source = Raw("plugin/__init__.py", (HANDLER_SOURCE + body).encode(),
                 compress=zipfile.ZIP_STORED)
    return make_ppx(tmp_path / "p.ppx", manifest_data=manifest(**overrides), extra=[source],
                    with_default_source=False)


def test_unused_permission_is_a_low_warning(tmp_path):
    report = _scan(_package(tmp_path, permissions=["files", "events"]))
    assert not report.rejected
    unused = [f for f in report.findings if f.rule_id == "PPX-PERM-UNUSED"]
    assert [f.severity.value for f in unused] == ["low"]
    assert "'events'" in unused[0].message


def test_secrets_permission_counts_as_used_through_config(tmp_path):
    body = "def g(event: dict, ctx: HookContext) -> str:\n    return ctx.config['key']\n"
    report = _scan(_package(tmp_path, body, permissions=["files", "secrets"]))
    assert "PPX-PERM-UNUSED" not in report.rule_ids()


def test_http_without_hosts_and_urls_outside_allow_list_warn(tmp_path):
    body = ("def g(event: dict, ctx: HookContext) -> None:\n"
            "    ctx.http.get('https://api.example.com/v1')\n"
            "    ctx.http.get('https://evil.example.net/x')\n")
    report = _scan(_package(tmp_path, body, permissions=["files", "http"],
                            network={"allow": ["*.example.com"]}))
    assert not report.rejected
    outside = [f for f in report.findings if f.rule_id == "PPX-PERM-HOST-NOT-ALLOWED"]
    assert [f.severity.value for f in outside] == ["medium"]
    assert "evil.example.net" in outside[0].message
    bare = _scan(_package(tmp_path, body, permissions=["files", "http"]))
    assert "PPX-PERM-NO-HOSTS" in bare.rule_ids()


def test_wildcard_does_not_cover_the_apex(tmp_path):
    body = "URL = 'https://example.com/'\n"
    report = _scan(_package(tmp_path, body, permissions=["files", "http"],
                            network={"allow": ["*.example.com"]}))
    assert "PPX-PERM-HOST-NOT-ALLOWED" in report.rule_ids()


def test_random_looking_literal_is_a_medium_warning(tmp_path):
    rng = random.Random(7)  # noqa: S311 - test data
    token = "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                    for _ in range(40))
    report = _scan(_package(tmp_path, f"NONCE = {token!r}\n"))
    entropy = [f for f in report.findings if f.rule_id == "PPX-SECRET-ENTROPY"]
    assert [f.severity.value for f in entropy] == ["medium"]
    assert token not in (entropy[0].snippet or "")
    assert not report.rejected


def test_very_long_plain_literal_is_a_medium_warning(tmp_path):
    text = "lorem ipsum dolor sit amet " * 1000
    report = _scan(_package(tmp_path, f"TEXT = {text!r}\n"))
    assert "PPX-OBF-LONG-LITERAL" in report.rule_ids()
    assert not report.rejected


def test_docstrings_are_not_literals(tmp_path):
    body = 'def doc() -> None:\n    """' + "x.__subclasses__ " * 2000 + '"""\n'
    report = _scan(_package(tmp_path, body))
    assert not report.rejected, [f.rule_id for f in report.blocking]


def test_oversized_python_file_is_rejected_unanalysed(tmp_path):
    big = ("x = 1\n" * 200_000).encode()
    path = make_ppx(tmp_path / "p.ppx", extra=[
        Raw("plugin/big.py", big, compress=zipfile.ZIP_STORED)])
    report = _scan(path)
    assert "PPX-SRC-TOO-LARGE" in {f.rule_id for f in report.blocking}


def test_dependencies_are_resolved_when_the_installed_set_is_known(tmp_path):
    path = _package(tmp_path, dependencies={"acme.base": ">=1.0,<2"})
    assert not _scan(path).rejected
    assert "PPX-DEP-MISSING" in {f.rule_id for f in _scan(path, installed={}).blocking}
    assert "PPX-DEP-VERSION" in {
        f.rule_id for f in _scan(path, installed={"acme.base": "2.1.0"}).blocking}
    assert not _scan(path, installed={"acme.base": "1.4.0"}).rejected
