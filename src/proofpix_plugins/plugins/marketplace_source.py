"""What the install route needs from the marketplace, as a Protocol (plugins/ never imports it).

``POST /api/plugins/install`` with a JSON body ``{"source": "marketplace", ...}`` installs a
published version. The marketplace package implements :class:`MarketplaceSource` and the
composition root (``platform.py``) puts it on ``app.state.marketplace_source``, the way
``files/`` receives its ``HookRunner``. Two more seams serve the kill switch: a plugin whose
listing is suspended must not load (:class:`LoadGate`, consulted by ``PluginService``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, Field

from proofpix_plugins.kit.schemas import CamelModel
from proofpix_plugins.packages.manifest import PLUGIN_ID_PATTERN


class MarketplaceInstallIn(CamelModel):
    """The JSON install body: a marketplace plugin, its version, grants and initial config."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"source": "marketplace", "pluginId": "acme.counter"},
        {"source": "marketplace", "pluginId": "acme.counter", "version": "1.2.0",
         "grantPermissions": ["storage"], "config": {"greeting": "hi"}},
    ]})

    source: Literal["marketplace"]
    """Where the package comes from; only `marketplace` (uploads are multipart)."""
    plugin_id: str = Field(pattern=f"^{PLUGIN_ID_PATTERN}$", max_length=100)
    """The marketplace plugin id, `publisher.name`."""
    version: str | None = Field(default=None, min_length=1, max_length=64,
                                pattern=r"^[0-9A-Za-z.+-]+$")
    """The exact version; omitted installs the newest visible one (a yanked version installs
    only when named here)."""
    grant_permissions: list[str] | None = Field(default=None, max_length=64)
    """Permissions to grant (a subset of those requested); omitted grants every requested
    permission. On an upgrade, new permissions wait for consent unless named here."""
    config: dict[str, Any] | None = None
    """Initial config, validated against the plugin's config_schema."""


@dataclass(frozen=True)
class MarketplaceArtifact:
    """A marketplace version's package, verified (sha256 and platform signature) and on disk."""

    path: Path
    plugin_id: str
    version: str
    #: The listing developer's namespace: the manifest's publisher part must be it.
    publisher: str
    #: Non-blocking notes for the caller (e.g. "this version is yanked: <reason>").
    notices: Sequence[str] = ()


class MarketplaceSource(Protocol):
    """Checks out verified marketplace artifacts and counts installs."""

    def checkout(
        self, plugin_id: str, version: str | None
    ) -> AbstractAsyncContextManager[MarketplaceArtifact]:
        """The verified package of ``plugin_id`` at ``version`` (newest visible when None) in
        a private temporary file, removed when the context exits. Raises ``NotFound`` for an
        unknown plugin or version, ``Conflict`` for one that may not be installed (suspended,
        in review), and a 422 problem when the stored artifact fails verification."""
        ...

    async def record_install(self, plugin_id: str, version: str) -> None:
        """Count one install of ``version`` today (the listing's and the version's counters)."""
        ...


class LoadGate(Protocol):
    """Refuses to load a plugin the platform has taken down (the marketplace's kill switch)."""

    async def check_loadable(self, plugin_id: str) -> None:
        """Raise a ``Conflict`` naming why ``plugin_id`` may not load; return when it may."""
        ...
