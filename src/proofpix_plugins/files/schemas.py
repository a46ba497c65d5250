"""Wire shapes of the photo pipeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict

from proofpix_plugins.kit.hook_schemas import PluginResultOut
from proofpix_plugins.kit.schemas import CamelResponse


class FilePluginResultOut(PluginResultOut):
    """A plugin's outcome on this file, with the hook that produced it."""

    hook: str
    """The hook the result came from (`file:uploaded`, `file:process`)."""


class FileOut(CamelResponse):
    """An uploaded photo and what the organization's plugins made of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b", "filename": "harbour.jpg",
        "contentType": "image/jpeg", "sizeBytes": 183204,
        "sha256": "4c1f0e9d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d",
        "processedSha256": None, "width": 1600, "height": 1200,
        "exif": {"make": "TestCam"}, "metadata": {"proofpix.exif-reader": {"hasGps": True}},
        "createdAt": "2026-12-01T09:30:00Z",
        "pluginResults": [{"pluginId": "proofpix.exif-reader", "status": "ok", "durationMs": 4.2,
                           "result": {"hasGps": True}, "hook": "file:uploaded"}],
    }]})

    id: str
    """File id (a UUID)."""
    filename: str
    """The name the client gave, cleaned of path and control characters."""
    content_type: str
    """The media type decided by decoding the bytes (not the client's claim)."""
    size_bytes: int
    """Size of the original, bytes."""
    sha256: str
    """SHA-256 of the original bytes."""
    processed_sha256: str | None
    """SHA-256 of the processed variant; null when no processor changed the photo."""
    status: Literal["processing", "complete", "incomplete"]
    """`processing` while the plugins run; `complete` once their results are recorded;
    `incomplete` when the run was interrupted (re-run it with `POST /api/files/{id}/reprocess`)."""
    width: int | None
    """Width in pixels."""
    height: int | None
    """Height in pixels."""
    exif: dict[str, Any]
    """EXIF facts read from the photo (camera, exposure, GPS, ...)."""
    metadata: dict[str, Any]
    """What plugins stored about the photo, by plugin id."""
    created_at: datetime
    """When it was uploaded."""
    plugin_results: list[FilePluginResultOut]
    """Each plugin's outcome on the upload's hooks, in call order."""
