"""What changed since the previous published version, and which changes need a human.

A version goes to review when it asks for more than its predecessor: a new permission, a new
network host, a changed set of secret config keys, or a jump in findings (more warnings than
before, or any rule id the previous scan did not report). Removals are shown, never a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proofpix_plugins.models.marketplace import MarketplaceVersion
from proofpix_plugins.packages.manifest import secret_keys_of

BLOCKING = ("critical", "high")


def scan_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What a version keeps of its scan: counts by severity, warnings and the rule ids seen."""
    findings = list(report.get("findings") or [])
    counts: dict[str, Any] = dict(report.get("summary") or {})
    counts["warnings"] = sum(1 for f in findings if f.get("severity") not in BLOCKING)
    counts["ruleIds"] = sorted({str(f.get("ruleId")) for f in findings})
    return counts


def manifest_facts(manifest: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(permissions, network hosts, secret config keys) of a manifest, each sorted."""
    network = manifest.get("network") or {}
    return (
        sorted(manifest.get("permissions") or []),
        sorted(network.get("allow") or []) if isinstance(network, dict) else [],
        sorted(secret_keys_of(manifest.get("config_schema"))),
    )


@dataclass(frozen=True)
class VersionDiff:
    previous_version: str | None
    added_permissions: list[str]
    removed_permissions: list[str]
    added_hosts: list[str]
    removed_hosts: list[str]
    added_secret_keys: list[str]
    removed_secret_keys: list[str]
    warnings_before: int
    warnings_after: int
    new_rule_ids: list[str]

    def reasons(self) -> list[str]:
        if self.previous_version is None:
            return []
        out = []
        if self.added_permissions:
            out.append("new permissions: " + ", ".join(self.added_permissions))
        if self.added_hosts:
            out.append("new network hosts: " + ", ".join(self.added_hosts))
        if self.added_secret_keys or self.removed_secret_keys:
            changed = [f"+{k}" for k in self.added_secret_keys] + [
                f"-{k}" for k in self.removed_secret_keys]
            out.append("changed secret config keys: " + ", ".join(changed))
        if self.new_rule_ids:
            out.append("new scanner findings: " + ", ".join(self.new_rule_ids))
        if self.warnings_after > self.warnings_before:
            out.append(f"more scanner warnings: {self.warnings_after} "
                       f"(was {self.warnings_before})")
        return out

    def as_wire(self) -> dict[str, Any]:
        return {
            "previousVersion": self.previous_version,
            "permissions": {"added": self.added_permissions,
                            "removed": self.removed_permissions},
            "hosts": {"added": self.added_hosts, "removed": self.removed_hosts},
            "secretKeys": {"added": self.added_secret_keys,
                           "removed": self.removed_secret_keys},
            "findings": {"warningsBefore": self.warnings_before,
                         "warningsAfter": self.warnings_after,
                         "newRuleIds": self.new_rule_ids},
        }


def _delta(new: list[str], old: list[str]) -> tuple[list[str], list[str]]:
    return sorted(set(new) - set(old)), sorted(set(old) - set(new))


def diff(previous: MarketplaceVersion | None, report: dict[str, Any]) -> VersionDiff:
    """The diff of a scanned submission (its report, manifest included) against ``previous``."""
    perms, hosts, secrets = manifest_facts(report.get("manifest") or {})
    summary = scan_summary(report)
    if previous is None:
        old_perms: list[str] = []
        old_hosts: list[str] = []
        old_secrets: list[str] = []
        old_warnings, old_rules = 0, set(summary["ruleIds"])
    else:
        old_perms, old_hosts = list(previous.permissions), list(previous.network_hosts)
        old_secrets = list(previous.secret_keys)
        old_warnings = int(previous.scan_summary.get("warnings", 0))
        old_rules = set(previous.scan_summary.get("ruleIds", []))
    added_p, removed_p = _delta(perms, old_perms)
    added_h, removed_h = _delta(hosts, old_hosts)
    added_s, removed_s = _delta(secrets, old_secrets)
    return VersionDiff(
        previous_version=previous.version if previous else None,
        added_permissions=added_p, removed_permissions=removed_p,
        added_hosts=added_h, removed_hosts=removed_h,
        added_secret_keys=added_s, removed_secret_keys=removed_s,
        warnings_before=old_warnings, warnings_after=int(summary["warnings"]),
        new_rule_ids=sorted(set(summary["ruleIds"]) - old_rules),
    )
