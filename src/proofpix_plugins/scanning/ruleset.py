"""The version of the rule set a scan ran under: changes whenever what the scanner enforces does.

Derived, never hand-bumped: a digest over every registered rule (id, severity, title, why), the
pinned bandit release and the check list actually run (id, enabled, enforced). A new rule, a
changed severity, a bandit upgrade or an extra check therefore yields a new version, and the
marketplace re-scans every published artifact that was scanned under another one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from proofpix_plugins.scanning.check import Check
from proofpix_plugins.scanning.checks.bandit_check import PROVEN_BANDIT_VERSION
from proofpix_plugins.scanning.rules import RULES

#: Length of the version string (hex characters of the digest): short enough to show.
VERSION_CHARS = 16


def ruleset_version(checks: Sequence[Check]) -> str:
    """A stable digest naming the rules and checks a scan with ``checks`` applies."""
    body = {
        "rules": sorted(
            [r.id, r.severity.value, r.title, r.why] for r in RULES.values()
        ),
        "bandit": PROVEN_BANDIT_VERSION,
        "checks": sorted(
            [c.id, bool(c.enabled), bool(c.enforced), type(c).__qualname__] for c in checks
        ),
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:VERSION_CHARS]
