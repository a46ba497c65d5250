"""Vetting an uploaded package before anything is written: scan, manifest, compatibility.

The scan is the same one authors run offline (``proofpix-plugins plugin validate``); it parses,
it never imports. Its CPU-bound work runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.packages.archive import extract_archive
from proofpix_plugins.packages.compat import check_engines, resolve_dependencies
from proofpix_plugins.packages.manifest import Manifest
from proofpix_plugins.scanning import Check, default_checks, scan_package
from proofpix_plugins.scanning.checks.bandit_check import BanditCheck


class PackageRejected(ValidationFailed):
    """The package failed the security scan or the manifest rules; the report says why."""

    title = "Plugin Package Rejected"
    slug = "package-rejected"


class Incompatible(ValidationFailed):
    """The package needs another platform, Python or plugin versions than this org has."""

    title = "Plugin Incompatible"
    slug = "plugin-incompatible"


@dataclass
class VettedPackage:
    path: Path
    sha256: str
    manifest: Manifest
    manifest_json: dict[str, Any]
    report: dict[str, Any]
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def extract(self, dest: Path) -> None:
        extract_archive(self.path, dest)

    def check_dependencies(self, installed: Mapping[str, str]) -> None:
        errors = resolve_dependencies(self.manifest, installed)
        if errors:
            raise Incompatible("plugin dependencies are not satisfied", errors=tuple(errors))


def _finding_errors(findings: list[dict[str, Any]]) -> tuple[FieldError, ...]:
    out = []
    for f in findings[:100]:
        where = f.get("file") or "(package)"
        if f.get("line"):
            where = f"{where}:{f['line']}"
        out.append(FieldError(where, str(f.get("message", ""))[:300], str(f["ruleId"])))
    return tuple(out)


async def vet_package(
    path: Path, platform_version: str, python_version: str,
    checks: Sequence[Check] | None = None,
) -> VettedPackage:
    report = await asyncio.to_thread(
        scan_package, path, platform_version=platform_version, python_version=python_version,
        checks=checks,
    )
    wire = report.to_json()
    findings = list(wire.get("findings") or [])
    if report.rejected or report.manifest is None or report.sha256 is None:
        blocking = [f for f in findings if f.get("severity") in ("critical", "high")] or findings
        raise PackageRejected(
            "the package failed validation; see the scan report",
            errors=_finding_errors(blocking),
            extensions={"scanReport": wire},
        )
    manifest: Manifest = report.manifest
    compat = check_engines(manifest, platform_version, python_version)
    if compat:
        raise Incompatible("the plugin is not compatible with this platform",
                           errors=tuple(compat))
    return VettedPackage(
        path=path,
        sha256=report.sha256,
        manifest=manifest,
        manifest_json=manifest.model_dump(mode="json", exclude_none=True),
        report=wire,
        warnings=[f for f in findings if f.get("severity") not in ("critical", "high")],
    )


def install_checks(bandit_workers: int, min_parallel_bytes: int) -> list[Check]:
    """The scanner's checks as the server runs them: bandit in warm worker processes.

    Results are identical to the inline run (the scanner's equivalence test); only the
    wall-clock time of an install changes, because bandit overlaps the other checks.
    """
    if bandit_workers < 1:
        return list(default_checks())
    return [
        BanditCheck(workers=bandit_workers, min_parallel_bytes=min_parallel_bytes)
        if c.id == "bandit" else c
        for c in default_checks()
    ]
