"""The scan report: policy verdict, findings, and JSON / SARIF 2.1.0 renderings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from proofpix_plugins import __version__
from proofpix_plugins.packages.manifest import Manifest
from proofpix_plugins.scanning.findings import Finding, Severity
from proofpix_plugins.scanning.rules import rule

SCANNER_NAME: Final = "proofpix-scanner"
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL: Final = {Severity.critical: "error", Severity.high: "error",
                       Severity.medium: "warning", Severity.low: "note", Severity.info: "note"}
# GitHub code scanning reads "security-severity" (0-10) to rank security results.
_SECURITY_SEVERITY: Final = {Severity.critical: "9.5", Severity.high: "8.0",
                             Severity.medium: "5.0", Severity.low: "3.0", Severity.info: "1.0"}


@dataclass(frozen=True)
class CheckRun:
    """One check's outcome in a scan."""

    id: str
    enforced: bool
    findings: int
    duration_ms: float
    skipped: bool = False


@dataclass
class ScanReport:
    sha256: str | None
    manifest: Manifest | None
    findings: list[Finding]
    checks: list[CheckRun] = field(default_factory=list)
    duration_ms: float = 0.0
    #: Ids of checks whose blocking findings reject the package.
    enforced_checks: frozenset[str] = frozenset()
    scanner_version: str = __version__

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings
                if f.severity.blocking and f.check in self.enforced_checks]

    @property
    def rejected(self) -> bool:
        """Any critical or high finding from an enforced check rejects the package."""
        return bool(self.blocking)

    @property
    def warnings(self) -> list[Finding]:
        blocking = set(map(id, self.blocking))
        return [f for f in self.findings if id(f) not in blocking]

    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        return counts

    def rule_ids(self) -> set[str]:
        return {f.rule_id for f in self.findings}

    def to_json(self) -> dict[str, Any]:
        manifest = None
        if self.manifest is not None:
            manifest = self.manifest.model_dump(mode="json")
        return {
            "schemaVersion": 1,
            "scanner": {"name": SCANNER_NAME, "version": self.scanner_version},
            "sha256": self.sha256,
            "rejected": self.rejected,
            "pluginId": self.manifest.id if self.manifest else None,
            "version": self.manifest.version if self.manifest else None,
            "summary": self.summary(),
            "durationMs": round(self.duration_ms, 3),
            "findings": [f.as_dict() for f in self.findings],
            "checks": [
                {"id": c.id, "enforced": c.enforced, "findings": c.findings,
                 "durationMs": round(c.duration_ms, 3), "skipped": c.skipped}
                for c in self.checks
            ],
            "manifest": manifest,
        }

    def to_sarif(self) -> dict[str, Any]:
        rule_ids = sorted(self.rule_ids())
        index = {rid: i for i, rid in enumerate(rule_ids)}
        rules = []
        for rid in rule_ids:
            r = rule(rid)
            rules.append({
                "id": rid,
                "name": rid.replace("-", ""),
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.why},
                "help": {"text": f"{r.title}. {r.why}",
                         "markdown": f"**{r.title}**\n\n{r.why}\n\nSee docs/scanner-rules.md."},
                "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
                "properties": {"tags": ["security"],
                               "security-severity": _SECURITY_SEVERITY[r.severity]},
            })
        results = []
        for f in self.findings:
            result: dict[str, Any] = {
                "ruleId": f.rule_id,
                "ruleIndex": index[f.rule_id],
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "properties": {"severity": f.severity.value, "check": f.check,
                               "blocking": f.severity.blocking and f.check in self.enforced_checks},
            }
            location: dict[str, Any] = {
                "artifactLocation": {"uri": f.file or "plugin.json", "uriBaseId": "PACKAGEROOT"}
            }
            if f.line is not None:
                region: dict[str, Any] = {"startLine": max(f.line, 1)}
                if f.column is not None:
                    region["startColumn"] = max(f.column, 1)
                if f.snippet:
                    region["snippet"] = {"text": f.snippet}
                location["region"] = region
            result["locations"] = [{"physicalLocation": location}]
            results.append(result)
        return {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": SCANNER_NAME,
                    "version": self.scanner_version,
                    "informationUri": "https://proofpix.dev/docs/scanner-rules",
                    "rules": rules,
                }},
                "originalUriBaseIds": {"PACKAGEROOT": {"description": {
                    "text": "Root of the plugin package"}}},
                "results": results,
                "properties": {"sha256": self.sha256, "rejected": self.rejected},
            }],
        }
