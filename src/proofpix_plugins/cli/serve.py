"""`proofpix-plugins serve`: run the API with uvicorn."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", envvar="HOST"),
    port: int = typer.Option(8000, "--port", envvar="PORT"),
) -> None:
    """Serve the API (not yet wired)."""
    raise typer.Exit(1)
