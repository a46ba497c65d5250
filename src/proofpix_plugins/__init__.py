"""ProofPix plugin platform: sandboxed plugin runtime, package scanning, REST API."""

from __future__ import annotations

__version__ = "0.1.0"
PLATFORM_VERSION = __version__

__all__ = ["PLATFORM_VERSION", "__version__"]
