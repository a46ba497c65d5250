"""Which isolation layers this host offers, as the SandboxReport the health endpoint shows.

The template process probes what it can do (Landlock ABI, seccomp, netns, uid drop) and the
host adds what only it can do (cgroups); the test-only ``disabled_layers`` switch shows as a
missing layer with the reason, so a test run can never be mistaken for a full sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from proofpix_plugins.runtime.config import LAYERS
from proofpix_plugins.runtime.outcome import SandboxReport

#: Without these two the runtime refuses untrusted plugins unless insecure_dev is set.
ESSENTIAL: frozenset[str] = frozenset({"landlock", "seccomp"})


def build_report(
    available: Mapping[str, bool],
    details: Mapping[str, str],
    landlock_abi: int,
    disabled: frozenset[str],
    *,
    insecure_dev: bool,
) -> SandboxReport:
    layers: dict[str, bool] = {}
    notes = dict(details)
    for layer in LAYERS:
        ok = bool(available.get(layer, False))
        if layer in disabled:
            ok = False
            notes[layer] = "disabled by the test-only disabled_layers switch"
        layers[layer] = ok
    missing = [name for name, ok in layers.items() if not ok]
    level: Literal["full", "degraded", "insecure"]
    if not missing:
        level = "full"
    elif ESSENTIAL - {n for n, ok in available.items() if ok} or insecure_dev:
        level = "insecure"
    else:
        level = "degraded"
    return SandboxReport(
        level=level, layers=layers, missing=missing, landlock_abi=landlock_abi, details=notes
    )


def refusal(report: SandboxReport, host_layers: Mapping[str, bool]) -> str | None:
    """Why untrusted plugins must be refused here, or None when they may run.

    Only layers the host lacks count; a layer switched off by the test-only switch was a
    deliberate choice of the test, not a host gap.
    """
    lacking = sorted(n for n in ESSENTIAL if not host_layers.get(n, False))
    if lacking:
        return (
            f"sandbox layer(s) {', '.join(lacking)} unavailable on this host "
            f"(level {report.level}); refusing untrusted plugins "
            "without PROOFPIX_SANDBOX=insecure-dev"
        )
    return None
