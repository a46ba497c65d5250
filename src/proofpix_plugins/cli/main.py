"""The `proofpix-plugins` command: operators' and plugin authors' entry point."""

from __future__ import annotations

import typer

from proofpix_plugins.cli import admin, db, demo, marketplace, plugin, serve

app = typer.Typer(no_args_is_help=True, help="ProofPix plugin platform")
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(demo.app, name="demo")
app.add_typer(plugin.app, name="plugin")
app.add_typer(marketplace.app, name="marketplace")

if __name__ == "__main__":
    app()
