"""Publish-time security scanning of plugin packages: never imports or runs plugin code."""

from __future__ import annotations

from proofpix_plugins.scanning.check import Check
from proofpix_plugins.scanning.findings import Finding, Severity
from proofpix_plugins.scanning.report import CheckRun, ScanReport
from proofpix_plugins.scanning.rules import RULES, Rule
from proofpix_plugins.scanning.scanner import default_checks, scan_directory, scan_package

__all__ = [
    "RULES",
    "Check",
    "CheckRun",
    "Finding",
    "Rule",
    "ScanReport",
    "Severity",
    "default_checks",
    "scan_directory",
    "scan_package",
]
