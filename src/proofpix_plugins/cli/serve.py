"""`proofpix-plugins serve`: run the API with uvicorn.

All state (SQLite database, blobs, generated keys) lives under ``PROOFPIX_DATA_DIR``
(default ``./.data``). Exit code 2 when the configuration is refused (e.g. production mode with
generated secrets), before anything listens.
"""

from __future__ import annotations

import typer
import uvicorn
from rich.console import Console

from proofpix_plugins.app import create_app
from proofpix_plugins.cli.admin import EXIT_USAGE, settings_or_exit
from proofpix_plugins.config import InsecureConfiguration
from proofpix_plugins.kit.logging import configure_logging


def serve(
    host: str | None = typer.Option(None, "--host", envvar="HOST", help="default 127.0.0.1"),
    port: int | None = typer.Option(
        None, "--port", envvar="PORT", min=1, max=65535, help="default 8000"
    ),
) -> None:
    """Serve the API (OpenAPI at /docs)."""
    console = Console(stderr=True, soft_wrap=True)
    settings = settings_or_exit(console)
    try:
        # Refuse an insecure production configuration here, with a clear message, not as a
        # failed lifespan deep inside uvicorn.
        settings = settings.ensure_secrets()
    except InsecureConfiguration as exc:
        console.print(f"[red]refusing to start:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # our structlog configuration formats uvicorn's records too
        server_header=False,
        # X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (uvicorn's default:
        # 127.0.0.1), so a local reverse proxy passes the real client address on to rate limits
        # and the audit log while remote callers cannot spoof it.
        proxy_headers=True,
    )
