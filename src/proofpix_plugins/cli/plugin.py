"""`proofpix-plugins plugin` commands for plugin authors: init, validate, test, pack, keygen,
sign, verify, publish, rules.

Exit codes scripts can trust: 0 clean (warnings allowed), 1 rejected / invalid, 2 usage error;
``test`` and ``publish`` document theirs (``test_cmd.py``, ``publish_cmd.py``).
``validate`` and ``pack`` run exactly the checks the server runs on install and submission.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.cli import init_cmd, publish_cmd, test_cmd
from proofpix_plugins.errors import ProofPixError
from proofpix_plugins.packages.archive import read_archive
from proofpix_plugins.packages.errors import KeyInvalid, PackageError
from proofpix_plugins.packages.manifest import MANIFEST_NAME, parse_manifest
from proofpix_plugins.packages.pack import write_archive
from proofpix_plugins.packages.signing import (
    generate_keypair,
    public_key_fingerprint,
    public_key_from_private,
    sign_digest,
    verify_digest,
)
from proofpix_plugins.scanning.report import ScanReport
from proofpix_plugins.scanning.rules import RULES, render_markdown
from proofpix_plugins.scanning.scanner import default_checks, scan_package

app = typer.Typer(no_args_is_help=True, help="Plugin author commands: init, validate, test, "
                  "pack, sign, publish.")
app.command("init")(init_cmd.init)
app.command("test")(test_cmd.run_hooks)
app.command("publish")(publish_cmd.publish)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
#: Default for --python-version: the interpreter the CLI runs on (workers run the same one).
PYTHON_VERSION = platform.python_version()


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


def _usage(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(EXIT_USAGE)


def _explain(exc: ProofPixError) -> None:
    typer.secho(f"error: {exc.detail}", err=True, fg=typer.colors.RED)
    for e in exc.errors:
        typer.echo(f"  {e.field}: {e.message}" + (f" [{e.rule}]" if e.rule else ""), err=True)


_COLORS = {"critical": typer.colors.RED, "high": typer.colors.RED,
           "medium": typer.colors.YELLOW, "low": typer.colors.CYAN, "info": typer.colors.WHITE}


def _print_text(report: ScanReport, source: Path) -> None:
    who = f"{report.manifest.id} {report.manifest.version}" if report.manifest else str(source)
    typer.echo(f"{who}  sha256:{report.sha256 or '-'}")
    for f in report.findings:
        severity = typer.style(f"{f.severity.value.upper():8}", fg=_COLORS[f.severity.value])
        typer.echo(f"  {severity} {f.rule_id:28} {f.location}  {f.message}")
        if f.snippet:
            typer.echo(f"  {'':8} {'':28} > {f.snippet}")
    blocking, warnings = len(report.blocking), len(report.warnings)
    if report.rejected:
        typer.secho(f"REJECTED: {blocking} blocking finding(s), {warnings} warning(s)",
                    fg=typer.colors.RED, bold=True)
    elif warnings:
        typer.secho(f"ACCEPTED with {warnings} warning(s)", fg=typer.colors.YELLOW, bold=True)
    else:
        typer.secho("CLEAN: no findings", fg=typer.colors.GREEN, bold=True)


def _render(report: ScanReport, fmt: ReportFormat, source: Path, output: Path | None) -> None:
    if fmt is ReportFormat.text and output is None:
        _print_text(report, source)
        return
    payload: dict[str, Any] = report.to_sarif() if fmt is ReportFormat.sarif else report.to_json()
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
        if fmt is ReportFormat.text:
            _print_text(report, source)
    else:
        typer.echo(text)


def _scan(path: Path, platform_version: str, python_version: str,
          disabled: list[str]) -> ScanReport:
    try:
        checks = default_checks(disabled=disabled)
    except ProofPixError as exc:
        _explain(exc)
        raise typer.Exit(EXIT_USAGE) from None
    if path.is_dir():
        with tempfile.TemporaryDirectory(prefix="ppx-validate-") as tmp:
            packed = Path(tmp) / "package.ppx"
            try:
                write_archive(path, packed)
            except PackageError as exc:
                _explain(exc)
                raise typer.Exit(EXIT_REJECTED) from None
            return scan_package(packed, platform_version=platform_version,
                                python_version=python_version, checks=checks)
    return scan_package(path, platform_version=platform_version, python_version=python_version,
                        checks=checks)


PathArg = Annotated[Path, typer.Argument(help="plugin source directory or .ppx file")]
PlatformOpt = Annotated[str, typer.Option("--platform-version",
                                          help="platform version to check engines against")]
PythonOpt = Annotated[str, typer.Option("--python-version",
                                        help="worker Python version to check engines against")]
DisableOpt = Annotated[list[str], typer.Option(
    "--disable", help="optional check to skip (bandit, compatibility)")]


@app.command()
def validate(
    path: PathArg,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="report format")] = (
        ReportFormat.text
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="also write the report here")] = None,
    platform_version: PlatformOpt = PLATFORM_VERSION,
    python_version: PythonOpt = PYTHON_VERSION,
    disable: DisableOpt = [],  # noqa: B006 - typer reads the default, never mutates it
) -> None:
    """Scan a plugin directory or .ppx with the server's checks (never runs plugin code)."""
    if not path.exists():
        raise _usage(f"{path} does not exist")
    if not (path.is_dir() or path.is_file()):
        raise _usage(f"{path} is neither a directory nor a file")
    report = _scan(path, platform_version, python_version, disable)
    _render(report, fmt, path, output)
    raise typer.Exit(EXIT_REJECTED if report.rejected else EXIT_OK)


def _default_name(src: Path) -> str:
    try:
        manifest = parse_manifest((src / MANIFEST_NAME).read_bytes())
    except (OSError, PackageError):
        return f"{src.resolve().name}.ppx"
    return f"{manifest.id}-{manifest.version}.ppx"


@app.command()
def pack(
    directory: Annotated[Path, typer.Argument(help="plugin source directory")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="output .ppx path")] = None,
    platform_version: PlatformOpt = PLATFORM_VERSION,
    python_version: PythonOpt = PYTHON_VERSION,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="report format")] = (
        ReportFormat.text
    ),
) -> None:
    """Pack a plugin directory into a deterministic .ppx, then scan it; a rejected package is
    deleted again."""
    if not directory.is_dir():
        raise _usage(f"{directory} is not a directory")
    target = out or Path.cwd() / _default_name(directory)
    if target.exists() and target.is_dir():
        raise _usage(f"{target} is a directory")
    # A spinner on stderr (transient, and off when stderr is not a terminal), so stdout keeps
    # only the report.
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"packing {directory}", total=None)
        try:
            sha256 = write_archive(directory, target)
        except PackageError as exc:
            progress.stop()
            _explain(exc)
            raise typer.Exit(EXIT_REJECTED) from None
        progress.update(task, description=f"scanning {target.name}")
        report = scan_package(target, platform_version=platform_version,
                              python_version=python_version)
    _render(report, fmt, target, None)
    if report.rejected:
        target.unlink(missing_ok=True)
        typer.secho(f"not packed: {target} removed", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_REJECTED)
    typer.echo(f"packed {target} sha256:{sha256}", err=fmt is not ReportFormat.text)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", "-o", help="path prefix for PREFIX.key/.pub")] = (
        Path("proofpix-signing")
    ),
) -> None:
    """Create an ed25519 signing key pair (PREFIX.key, mode 0600, and PREFIX.pub)."""
    private_path, public_path = out.with_name(out.name + ".key"), out.with_name(out.name + ".pub")
    for p in (private_path, public_path):
        if p.exists():
            raise _usage(f"{p} already exists; refusing to overwrite a key")
    if not private_path.parent.is_dir():
        raise _usage(f"{private_path.parent} is not a directory")
    private_pem, public_pem = generate_keypair()
    _write_new(private_path, private_pem, 0o600)
    _write_new(public_path, public_pem, 0o644)
    typer.echo(f"private key: {private_path}\npublic key:  {public_path}\n"
               f"fingerprint: {public_key_fingerprint(public_pem)}")


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _usage(f"cannot read {path}: {exc.strerror}") from None


def _archive_digest(ppx: Path) -> str:
    if not ppx.is_file():
        raise _usage(f"{ppx} is not a file")
    try:
        return read_archive(ppx).sha256
    except PackageError as exc:
        _explain(exc)
        raise typer.Exit(EXIT_REJECTED) from None


@app.command()
def sign(
    ppx: Annotated[Path, typer.Argument(help=".ppx to sign")],
    key: Annotated[Path, typer.Option("--key", "-k", help="ed25519 private key (PEM)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="signature file")] = None,
) -> None:
    """Sign a package's sha256 with an ed25519 key; writes PPX.sig (base64)."""
    private_pem = _read_key(key)
    sha256 = _archive_digest(ppx)
    try:
        signature = sign_digest(sha256, private_pem)
        fingerprint = public_key_fingerprint(public_key_from_private(private_pem))
    except KeyInvalid as exc:
        _explain(exc)
        raise typer.Exit(EXIT_USAGE) from None
    target = out or ppx.with_name(ppx.name + ".sig")
    target.write_text(signature + "\n", encoding="ascii")
    typer.echo(f"sha256:    {sha256}\nsignature: {signature}\nkey:       {fingerprint}\n"
               f"written:   {target}")


@app.command()
def verify(
    ppx: Annotated[Path, typer.Argument(help=".ppx to verify")],
    pub: Annotated[Path, typer.Option("--pub", "-p", help="ed25519 public key (PEM)")],
    sig: Annotated[Path | None, typer.Option("--sig", "-s", help="signature file")] = None,
) -> None:
    """Verify a package's detached signature; exit 0 if valid, 1 if not."""
    public_pem = _read_key(pub)
    signature = _read_key(sig or ppx.with_name(ppx.name + ".sig")).decode("ascii", "replace")
    sha256 = _archive_digest(ppx)
    try:
        valid = verify_digest(sha256, signature, public_pem)
    except KeyInvalid as exc:
        _explain(exc)
        raise typer.Exit(EXIT_USAGE) from None
    typer.echo(f"{'valid' if valid else 'INVALID'} signature for sha256:{sha256}")
    raise typer.Exit(EXIT_OK if valid else EXIT_REJECTED)


@app.command()
def rules(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of Markdown")] = False,
) -> None:
    """List every scanner rule: id, severity, what it catches and why."""
    if as_json:
        typer.echo(json.dumps([{"id": r.id, "severity": r.severity.value, "title": r.title,
                                "why": r.why} for r in RULES.values()], indent=2))
    else:
        typer.echo(render_markdown(), nl=False)
