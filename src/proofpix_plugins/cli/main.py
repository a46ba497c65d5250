"""The `proofpix-plugins` command: operators' and plugin authors' entry point."""

from __future__ import annotations

from typing import Annotated

import typer

from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.cli import admin, db, demo, marketplace, plugin, proof, serve

app = typer.Typer(no_args_is_help=True, help="ProofPix plugin platform")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"proofpix-plugins {PLATFORM_VERSION}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """ProofPix plugin platform: serve, administer, and author plugins."""


app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(demo.app, name="demo")
app.add_typer(plugin.app, name="plugin")
app.add_typer(proof.app, name="proof")
app.add_typer(marketplace.app, name="marketplace")

if __name__ == "__main__":
    app()
