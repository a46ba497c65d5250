"""The ``Check`` seam: one publish-time check (after Open VSX's PublishCheck).

``enabled``: the check runs. ``enforced``: its critical/high findings reject the package (an
unenforced check only warns). ``required``: it cannot be disabled. ``message``: what it guarantees,
in words a plugin author understands. The server and ``plugin validate`` run the same list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from proofpix_plugins.scanning.context import ScanContext, SourceFile
from proofpix_plugins.scanning.findings import Finding
from proofpix_plugins.scanning.rules import rule


@runtime_checkable
class Check(Protocol):
    id: str
    enabled: bool
    enforced: bool
    required: bool
    message: str

    def run(self, ctx: ScanContext) -> list[Finding]: ...


def at(
    rule_id: str,
    source: SourceFile,
    node: object | None = None,
    message: str | None = None,
    *,
    snippet: str | None = None,
) -> Finding:
    """A finding located at an AST node of ``source`` (1-based line and column)."""
    line = getattr(node, "lineno", None)
    col = getattr(node, "col_offset", None)
    return rule(rule_id).finding(
        message, file=source.path, line=line, column=None if col is None else col + 1,
        snippet=snippet if snippet is not None else source.snippet(line),
    )


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[tuple[str, str | None, int | None, int | None]] = set()
    out = []
    for f in findings:
        key = (f.rule_id, f.file, f.line, f.column)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
