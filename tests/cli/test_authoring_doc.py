"""docs/plugin-authoring.md stays complete: every manifest field (nested ones too), every host
hook, every permission and every SDK capability namespace is mentioned; README links it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from proofpix_plugins.packages.manifest import Author, Engines, Hook, Manifest, Network, Resources
from proofpix_plugins.packages.permissions import HOST_HOOKS, PERMISSIONS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "plugin-authoring.md").read_text(encoding="utf-8")


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_every_manifest_field_is_documented() -> None:
    for name in _fields(Manifest):
        assert f"`{name}`" in DOC, name
    nested: dict[str, type[BaseModel]] = {
        "author": Author, "hooks[]": Hook, "network": Network, "engines": Engines,
        "resources": Resources}
    for parent, model in nested.items():
        for name in _fields(model):
            assert f"`{name}`" in DOC or f"`{parent}.{name}`" in DOC, f"{parent}.{name}"


def test_every_host_hook_and_permission_is_documented() -> None:
    for hook in HOST_HOOKS:
        assert f"`{hook}`" in DOC, hook
    for permission in PERMISSIONS:
        assert f"`{permission}`" in DOC, permission
    for namespace in ("files", "images", "metadata", "storage", "http", "crypto", "events",
                      "secrets", "log"):
        assert f"ctx.{namespace}" in DOC, namespace


def test_readme_links_the_guide() -> None:
    assert "docs/plugin-authoring.md" in (ROOT / "README.md").read_text(encoding="utf-8")
