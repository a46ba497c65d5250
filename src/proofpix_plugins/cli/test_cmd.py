"""``plugin test DIR``: run a plugin's hooks in the real sandbox and show what happened.

Exit codes: 0 every hook answered ok, 1 a hook (or the load) failed, 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from proofpix_plugins.cli.local_run import BadInput, HookRun, LocalRun, RunOptions, run_local
from proofpix_plugins.cli.local_run import load_json_file as _load_json

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_STATUS_STYLE = {"ok": "green", "skipped": "yellow"}
#: Results longer than this are cut in the text output (--json shows them whole).
_SHOW_CHARS = 2000


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "…"


def _print_hook(console: Console, h: HookRun) -> None:
    r = h.result
    style = _STATUS_STYLE.get(r.status, "red")
    mark = "✔" if r.status == "ok" else "✘"
    console.print(f"[{style}]{mark} {escape(h.hook)}[/] → {escape(h.handler)}()  "
                  f"[{style}]{r.status}[/]  {r.duration_ms:.1f} ms")
    if r.status == "ok":
        console.print(f"    result: {escape(_short(r.result))}", soft_wrap=True)
    else:
        for line in r.error_text().splitlines():
            console.print(f"    [{style}]{escape(line)}[/]", soft_wrap=True)
    for entry in h.logs:
        fields = " ".join(f"{k}={_short(v)}" for k, v in entry["fields"].items())
        console.print(f"    log {entry['level']:7} {escape(entry['message'])} {escape(fields)}",
                      soft_wrap=True)
    if h.capabilities:
        used = ", ".join(f"{cap}×{n}" for cap, n in sorted(h.capabilities.items()))
        console.print(f"    capabilities: {used}")
    for d in h.denied:
        what = d.get("capability") or d.get("hook")
        console.print(f"    [red]denied: {escape(str(what))} needs "
                      f"{escape(str(d.get('permission') or d.get('permissions')))}[/]")


def _print(console: Console, run: LocalRun) -> None:
    level = run.sandbox.get("level", "?")
    console.print(f"[bold]{run.plugin_id} {run.version}[/]  sandbox: {level}  "
                  f"start-up: {run.startup_ms:.0f} ms  granted: "
                  f"{', '.join(run.granted) or 'nothing'}")
    if level != "full":
        console.print(f"[yellow]warning: this host lacks sandbox layers "
                      f"{', '.join(run.sandbox.get('missing', []))}; the server may refuse "
                      "what runs here[/]")
    if run.load_error:
        console.print(f"[red]✘ load failed: {escape(run.load_error)}[/]", soft_wrap=True)
    for h in run.hooks:
        _print_hook(console, h)
    failed = sum(1 for h in run.hooks if h.result.status != "ok")
    if run.ok:
        console.print(f"[green bold]OK: {len(run.hooks)} hook(s) answered ok[/]")
    else:
        console.print(f"[red bold]FAILED: {failed or 'load'} hook(s) did not answer ok[/]")


def run_hooks(
    directory: Annotated[Path, typer.Argument(help="plugin source directory")],
    event: Annotated[Path | None, typer.Option("--event", "-e", help="JSON file: the event "
                     "every called hook receives (default: a sample payload per hook)")] = None,
    photo: Annotated[Path | None, typer.Option("--file", "-f", help="a photo: the file the "
                     "hook is about (default: a generated JPEG with EXIF and GPS)")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="JSON file: the "
                      "plugin's configuration (defaults from config_schema are applied)")] = None,
    grant: Annotated[list[str] | None, typer.Option("--grant", "-g", help="grant only these "
                     "permissions (repeat; default: every requested one)")] = None,
    hook: Annotated[list[str] | None, typer.Option("--hook", help="call only this hook "
                    "(repeat; default: every declared hook)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Run the plugin in the real sandbox with sample (or given) events; show each hook's
    result, logs, capabilities, timing and, for errors, the plugin's traceback."""
    try:
        options = RunOptions(
            event=_load_json(event, "--event") if event is not None else None,
            has_event=event is not None, photo=photo,
            config=_config_object(config), grants=grant, hooks=hook,
        )
        run = run_local(directory, options) if as_json else _with_progress(directory, options)
    except BadInput as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        typer.echo(json.dumps(run.to_json(), indent=2, ensure_ascii=False, default=str))
    else:
        _print(Console(soft_wrap=True), run)
    raise typer.Exit(EXIT_OK if run.ok else EXIT_FAILED)


def _config_object(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    value = _load_json(path, "--config")
    if not isinstance(value, dict):
        raise BadInput("--config: the file must hold a JSON object")
    return value


def _with_progress(directory: Path, options: RunOptions) -> LocalRun:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("preparing", total=None)
        return run_local(directory, options,
                         on_stage=lambda msg: progress.update(task, description=msg))
