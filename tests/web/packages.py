"""Real .ppx packages for the console tests (built with the platform's own packer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.plugins.builders import ANALYZER, build_ppx, manifest

HOSTILE_DESCRIPTION = (
    'Reads EXIF. <script>window.__pwned = 1; document.title = "pwned"</script> '
    '<img src=x onerror="window.__pwned = 2"> [click](javascript:window.__pwned=3) **bold**'
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["endpoint", "apiKey"],
    "properties": {
        "endpoint": {"type": "string", "minLength": 8, "description": "Where results go"},
        "apiKey": {"type": "string", "minLength": 16, "x-secret": True},
        "mode": {"type": "string", "enum": ["fast", "thorough"], "default": "fast"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 5, "default": 2},
        "verbose": {"type": "boolean", "default": False},
    },
}


def analyzer_ppx(out_dir: Path, plugin_id: str = "acme.web-analyzer", **fields: Any) -> Path:
    """An analyzer on file:uploaded asking for files and metadata, with a config schema."""
    meta = manifest(plugin_id, name="Web Analyzer", description=HOSTILE_DESCRIPTION,
                    hooks=[{"name": "file:uploaded", "handler": "on_upload"}],
                    permissions=["files", "metadata", "http"],
                    network={"allow": ["api.acme.example"]},
                    config_schema=CONFIG_SCHEMA)
    meta.update(fields)
    return build_ppx(out_dir, meta, ANALYZER)
