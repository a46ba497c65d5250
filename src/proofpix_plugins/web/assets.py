"""Static assets: the vendored releases and the console's own files, cached for a year.

Vendored files live in versioned directories (``vendor/<name>-<version>/``, fetched by
``scripts/vendor_console_assets.sh`` from their npm tarballs, licences beside them) and the
console's own files are addressed with a content hash (``?v=``), so every URL names immutable
bytes and may be cached as such. Pages reference scripts only through :data:`PAGE_SCRIPTS`,
whose total size the tests hold under the budget.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static"
HTMX = "vendor/htmx.org-2.0.11/htmx.min.js"
PICO = "vendor/pico-2.1.1/pico.min.css"
UPLOT_JS = "vendor/uplot-1.6.32/uPlot.iife.min.js"
UPLOT_CSS = "vendor/uplot-1.6.32/uPlot.min.css"
CONSOLE_JS = "console/console.js"
CONSOLE_CSS = "console/console.css"
#: The scripts a page loads: htmx on pages with partial updates, uPlot instead on the chart
#: page (whose forms work as plain forms), so no page passes the budget (htmx and uPlot
#: together would: 52 + 51 KB). axe-core is for the tests only and never listed.
PAGE_SCRIPTS = (HTMX, CONSOLE_JS)
CHART_PAGE_SCRIPTS = (UPLOT_JS, CONSOLE_JS)
JS_BUDGET_BYTES = 100 * 1024
YEAR = 365 * 24 * 3600


@cache
def _digest(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def asset_url(name: str) -> str:
    """The URL of a static file; the console's own files carry their content hash."""
    if name.startswith("vendor/"):
        return f"{STATIC_URL}/{name}"
    return f"{STATIC_URL}/{name}?v={_digest(name)}"


class CachedStaticFiles(StaticFiles):
    """StaticFiles whose every answer may be cached for a year (the URLs are immutable)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        return response
