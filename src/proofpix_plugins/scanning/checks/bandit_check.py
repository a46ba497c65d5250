"""bandit, run as a library on the package's Python sources (in memory, never imported).

Building bandit's test set loads every plugin through stevedore and costs far more than scanning a
small package, so it is built once per process and shared. ``# nosec`` comments are ignored: the
plugin author does not get to silence the platform's scanner.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from proofpix_plugins.scanning.context import ScanContext, SourceFile
from proofpix_plugins.scanning.findings import Finding, Severity
from proofpix_plugins.scanning.rules import rule

#: Tests about cryptographic *quality* (weak hashes/ciphers) are capped at medium: they concern
#: the plugin's results, not the platform's safety, and should not block e.g. an md5 checksum.
QUALITY_ONLY: Final = frozenset({"B303", "B304", "B305", "B324", "B311", "B413"})

_lock = threading.Lock()


@cache
def _bandit() -> tuple[Any, Any]:
    """(BanditTestSet, module bundle) built once per process."""
    # bandit logs per-file problems at ERROR; we report them as findings instead.
    logging.getLogger("bandit").setLevel(logging.CRITICAL)
    # stevedore (under bandit) warns about its own deprecated arguments on import: not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from bandit.core import config as b_config
        from bandit.core import test_set as b_test_set

    conf = b_config.BanditConfig()
    return b_test_set.BanditTestSet(conf, profile={}), conf


def warm_up() -> None:
    """Build bandit's test set now (e.g. at server start) instead of on the first scan."""
    with _lock:
        _bandit()


def severity_for(test_id: str, severity: str, confidence: str) -> Severity:
    if severity == "HIGH":
        mapped = Severity.high if confidence in ("HIGH", "MEDIUM") else Severity.medium
    elif severity == "MEDIUM":
        mapped = Severity.medium
    else:
        mapped = Severity.low
    if test_id in QUALITY_ONLY and mapped.rank > Severity.medium.rank:
        return Severity.medium
    return mapped


def run_bandit(source: SourceFile) -> list[Finding]:
    with _lock:
        testset, _ = _bandit()
    from bandit.core import meta_ast, metrics, node_visitor
    stats = metrics.Metrics()
    stats.begin(source.path)
    visitor = node_visitor.BanditNodeVisitor(
        source.path, io.BytesIO(source.raw), meta_ast.BanditMetaAst(), testset, False, {}, stats
    )
    try:
        visitor.process(source.raw)
    except (RecursionError, MemoryError, SyntaxError, ValueError) as exc:
        return [rule("PPX-BANDIT-ERROR").finding(
            f"bandit could not analyse the file: {type(exc).__name__}", file=source.path)]
    out = []
    for issue in visitor.tester.results:
        test_id = str(issue.test_id)
        line = int(issue.lineno) if issue.lineno else None
        col = getattr(issue, "col_offset", None)
        out.append(rule(f"PPX-BANDIT-{test_id}").finding(
            f"bandit {test_id} ({issue.test}): {issue.text}",
            file=source.path, line=line, column=None if col is None else int(col) + 1,
            snippet=source.snippet(line),
            severity=severity_for(test_id, str(issue.severity), str(issue.confidence)),
        ))
    return out


@dataclass
class BanditCheck:
    id: str = "bandit"
    enabled: bool = True
    enforced: bool = True
    required: bool = False
    message: str = "bandit's security checks find nothing of high severity."

    def run(self, ctx: ScanContext) -> list[Finding]:
        out: list[Finding] = []
        for source in ctx.parsed_sources:
            out += run_bandit(source)
        return out
