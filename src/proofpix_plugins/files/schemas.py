"""Wire shapes of the photo pipeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from proofpix_plugins.kit.hook_schemas import PluginResultOut
from proofpix_plugins.kit.schemas import CamelResponse


class FilePluginResultOut(PluginResultOut):
    """A plugin's outcome on this file, with the hook that produced it."""

    hook: str


class FileOut(CamelResponse):
    id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    processed_sha256: str | None
    #: ``processing`` while the plugins run; ``complete`` once their results are recorded;
    #: ``incomplete`` when the run was interrupted (``POST /api/files/{id}/reprocess``).
    status: Literal["processing", "complete", "incomplete"]
    width: int | None
    height: int | None
    exif: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    plugin_results: list[FilePluginResultOut]
