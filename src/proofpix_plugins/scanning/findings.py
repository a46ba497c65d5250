"""What a check reports: one finding per problem, with a severity that decides the policy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def blocking(self) -> bool:
        """Critical and high findings reject a package; the rest are warnings."""
        return self in (Severity.critical, Severity.high)


_RANK = {Severity.critical: 4, Severity.high: 3, Severity.medium: 2, Severity.low: 1,
         Severity.info: 0}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: stable rule id, severity, where (archive path, 1-based line/column), what."""

    rule_id: str
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    snippet: str | None = None
    #: Id of the check that reported it (set by the scanner).
    check: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "snippet": self.snippet,
            "check": self.check,
        }

    @property
    def location(self) -> str:
        if self.file is None:
            return "(package)"
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out
