"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with no external request.

Both are vendored as pinned npm releases under ``static/vendor/<name>-<version>/`` with their
licences (``npm pack swagger-ui-dist@5.35.0``, ``npm pack redoc@2.5.2``; only the bundle, its
stylesheet and licence files are kept). The pages load nothing but same-origin files and start
without inline script, so their CSP allows scripts from ``'self'`` only (see
``kit/security_headers.py``). An offline or air-gapped deployment gets working docs.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from proofpix_plugins.web.assets import CachedStaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static"
SWAGGER_UI = f"{STATIC_URL}/vendor/swagger-ui-dist-5.35.0"
REDOC = f"{STATIC_URL}/vendor/redoc-2.5.2"


def _page(title: str, head: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title>{head}</head>{body}</html>\n"
    )


def install_docs(app: FastAPI) -> None:
    """Serve the vendored assets and the two docs pages (create the app with docs_url=None)."""
    openapi_url = escape(app.openapi_url or "/openapi.json")
    title = app.title
    swagger = _page(
        f"{title} - Swagger UI",
        f'<link rel="icon" type="image/png" href="{SWAGGER_UI}/favicon-32x32.png">'
        f'<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">',
        f'<body data-openapi-url="{openapi_url}"><div id="swagger-ui"></div>'
        f'<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>'
        f'<script src="{STATIC_URL}/swagger-init.js"></script></body>',
    )
    redoc = _page(
        f"{title} - ReDoc",
        f'<link rel="icon" type="image/png" href="{SWAGGER_UI}/favicon-32x32.png">',
        f'<body><redoc spec-url="{openapi_url}"></redoc>'
        f'<script src="{REDOC}/redoc.standalone.js"></script></body>',
    )

    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger)

    async def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc)

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc_page, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_URL, CachedStaticFiles(directory=STATIC_DIR), name="static")
