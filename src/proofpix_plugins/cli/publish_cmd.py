"""``plugin publish DIR_OR_PPX --server URL``: submit to the marketplace and follow the decision.

Exit codes: 0 published, 3 in review (or not decided within --wait), 4 rejected (the scan
report is printed), 1 server or HTTP error (the problem detail is printed), 2 bad input.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from proofpix_plugins.cli.publish_client import PublishClient, ServerError
from proofpix_plugins.packages.archive import read_archive
from proofpix_plugins.packages.errors import KeyInvalid, PackageError
from proofpix_plugins.packages.pack import write_archive
from proofpix_plugins.packages.signing import sign_digest

EXIT_PUBLISHED, EXIT_ERROR, EXIT_USAGE, EXIT_IN_REVIEW, EXIT_REJECTED = 0, 1, 2, 3, 4
API_KEY_ENV = "PROOFPIX_API_KEY"
SIGNING_KEY_ENV = "PROOFPIX_SIGNING_KEY_FILE"


class _Usage(Exception):
    pass


def _api_key(key_file: Path | None) -> str:
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise _Usage(f"--api-key-file: cannot read {key_file}: {exc}") from None
    else:
        key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise _Usage(f"no API key: set {API_KEY_ENV} or pass --api-key-file "
                     "(create one with POST /api/developers/keys)")
    return key


@contextmanager
def _package(source: Path, stage: Any) -> Iterator[Path]:
    """The .ppx to submit: ``source`` itself, or a directory packed into a temporary file."""
    if source.is_file():
        yield source
        return
    if not source.is_dir():
        raise _Usage(f"{source} is neither a plugin directory nor a .ppx file")
    with tempfile.TemporaryDirectory(prefix="ppx-publish-") as tmp:
        target = Path(tmp) / f"{source.resolve().name}.ppx"
        stage("packing")
        try:
            write_archive(source, target)
        except PackageError as exc:
            details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors[:5])
            raise _Usage(f"cannot pack {source}: {details or exc.detail}") from None
        yield target


def _signature(ppx: Path, key_path: Path | None) -> str | None:
    key_path = key_path or (Path(os.environ[SIGNING_KEY_ENV])
                            if os.environ.get(SIGNING_KEY_ENV) else None)
    if key_path is None:
        return None
    try:
        pem = key_path.read_bytes()
    except OSError as exc:
        raise _Usage(f"signing key: cannot read {key_path}: {exc.strerror}") from None
    try:
        return sign_digest(read_archive(ppx).sha256, pem)
    except KeyInvalid as exc:
        raise _Usage(f"signing key {key_path}: {exc.detail}") from None
    except PackageError as exc:
        raise _Usage(f"{ppx}: {exc.detail}") from None


def _print_report(console: Console, sub: dict[str, Any]) -> None:
    report = sub.get("scanReport") or {}
    for f in report.get("findings", []) if isinstance(report, dict) else []:
        where = f.get("file") or "(package)"
        if f.get("line"):
            where += f":{f['line']}"
        console.print(f"  {str(f.get('severity', '')).upper():8} {f.get('ruleId', ''):28} "
                      f"{escape(where)}  {escape(str(f.get('message', '')))}", soft_wrap=True)
    for reason in sub.get("reviewReasons") or []:
        console.print(f"  review: {escape(str(reason))}", soft_wrap=True)
    if sub.get("decisionReason"):
        console.print(f"  reason: {escape(str(sub['decisionReason']))}", soft_wrap=True)


def publish(
    source: Annotated[Path, typer.Argument(help="plugin directory (packed first) or .ppx")],
    server: Annotated[str, typer.Option("--server", "-s", help="marketplace base URL, e.g. "
                                        "https://plugins.proofpix.example")],
    api_key_file: Annotated[Path | None, typer.Option("--api-key-file", help="file holding the "
                            f"API key (default: ${API_KEY_ENV})")] = None,
    key: Annotated[Path | None, typer.Option("--key", "-k", help="ed25519 private key to sign "
                   f"with (default: ${SIGNING_KEY_ENV}; unsigned if neither)")] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="release notes")] = None,
    wait: Annotated[float, typer.Option("--wait", help="seconds to follow the pipeline")
                    ] = 300.0,
    interval: Annotated[float, typer.Option("--interval", help="seconds between polls")
                        ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the final submission as JSON")
                       ] = False,
) -> None:
    """Pack (for a directory), sign (when a key is configured), submit and follow the review."""
    if not server.startswith(("http://", "https://")):
        _fail(f"--server {server!r} must be an http(s) URL", EXIT_USAGE)
    if wait < 0 or interval <= 0:
        _fail("--wait must be >= 0 and --interval > 0", EXIT_USAGE)
    console = Console(stderr=True)
    try:
        api_key = _api_key(api_key_file)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True, disable=as_json) as progress:
            task = progress.add_task("preparing", total=None)

            def stage(text: str) -> None:
                progress.update(task, description=text)

            with _package(source, stage) as ppx:
                signature = _signature(ppx, key)
                stage("uploading" + (" (signed)" if signature else ""))
                with PublishClient(server, api_key) as client:
                    created = client.submit(ppx, signature=signature, release_notes=notes)
                    stage(f"submission {created['id']}: {created.get('status', 'pending')}")
                    final = client.wait(
                        created["id"], timeout_s=wait, interval_s=interval,
                        on_status=lambda s: stage(f"submission {created['id']}: "
                                                  f"{s.get('status')}"))
    except _Usage as exc:
        _fail(str(exc), EXIT_USAGE)
    except ServerError as exc:
        if as_json:
            typer.echo(json.dumps({"error": exc.message, "status": exc.status,
                                   "problem": exc.problem}, indent=2))
        else:
            typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
            for e in (exc.problem or {}).get("errors") or []:
                if isinstance(e, dict):
                    typer.echo(f"  {e.get('field')}: {e.get('message')}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    raise typer.Exit(_report(final, as_json))


def _report(sub: dict[str, Any], as_json: bool) -> int:
    status = sub.get("status")
    code = {"published": EXIT_PUBLISHED, "rejected": EXIT_REJECTED}.get(
        str(status), EXIT_IN_REVIEW)
    if as_json:
        typer.echo(json.dumps(sub, indent=2, ensure_ascii=False))
        return code
    out = Console(soft_wrap=True)
    who = f"{sub.get('pluginId')} {sub.get('version')} (submission {sub.get('id')})"
    if status == "published":
        out.print(f"[green bold]published[/] {escape(who)}")
    elif status == "rejected":
        out.print(f"[red bold]rejected[/] {escape(who)}")
        _print_report(out, sub)
    elif status == "in_review":
        out.print(f"[yellow bold]in review[/] {escape(who)}: a reviewer decides next")
        _print_report(out, sub)
    else:
        out.print(f"[yellow bold]{escape(str(status))}[/] {escape(who)}: not decided yet; "
                  "check again later")
    return code


def _fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)
