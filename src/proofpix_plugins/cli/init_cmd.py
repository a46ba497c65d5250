"""``plugin init NAME --type TYPE``: scaffold a plugin (see ``scaffold.py``). Exit 0 or 2."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from proofpix_plugins.cli.scaffold import DEFAULT_PUBLISHER, TEMPLATES, ScaffoldError, scaffold

EXIT_OK, EXIT_USAGE = 0, 2


class PluginKind(StrEnum):
    analyzer = "analyzer"
    processor = "processor"
    connector = "connector"
    utility = "utility"


def init(
    name: Annotated[str, typer.Argument(help="plugin name, e.g. exif-reader (the id's second "
                                              "part)")],
    kind: Annotated[PluginKind, typer.Option("--type", "-t", help="what the plugin is")],
    directory: Annotated[Path | None, typer.Option("--dir", "-d", help="where to create it "
                                                   "(default: ./NAME); must be absent or empty")
                         ] = None,
    publisher: Annotated[str, typer.Option("--publisher", "-p", help="your developer namespace "
                                           "(the id's first part)")] = DEFAULT_PUBLISHER,
    as_json: Annotated[bool, typer.Option("--json", help="print what was created as JSON")
                       ] = False,
) -> None:
    """Create a plugin that validates clean and passes its own test, ready to edit."""
    target = directory if directory is not None else Path.cwd() / name
    try:
        written = scaffold(target, name, kind.value, publisher)
    except ScaffoldError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_USAGE) from None
    template = TEMPLATES[kind.value]
    if as_json:
        typer.echo(json.dumps({
            "id": f"{publisher}.{name}", "type": kind.value, "directory": str(target),
            "hook": template.hook, "handler": template.handler,
            "permissions": list(template.permissions),
            "files": [str(p.relative_to(target)) for p in written],
        }, indent=2))
        return
    typer.secho(f"created {publisher}.{name} ({kind.value}) in {target}", fg=typer.colors.GREEN)
    for path in written:
        typer.echo(f"  {path.relative_to(target)}")
    typer.echo(f"\nnext:\n  proofpix-plugins plugin validate {target}\n"
               f"  proofpix-plugins plugin test {target}")
