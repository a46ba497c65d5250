"""docs/scanner-rules.md lists exactly the registered rules."""

from __future__ import annotations

from pathlib import Path

from proofpix_plugins.scanning.rules import RULES, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "scanner-rules.md"


def test_rules_document_is_generated_from_the_registry():
    assert DOC.read_text(encoding="utf-8").startswith(render_markdown())


def test_every_rule_has_a_title_and_a_reason():
    for r in RULES.values():
        assert r.title
        assert r.why
        assert r.id.startswith("PPX-")
