"""``scan_package``: read a ``.ppx`` safely, run every enabled check, apply the policy.

The same function backs server-side install/submission scans and ``plugin validate``. Plugin code
is parsed, never imported or executed; a check that crashes fails the scan closed.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from proofpix_plugins.errors import BadRequest, FieldError
from proofpix_plugins.packages.archive import (
    DEFAULT_LIMITS,
    HEAD_BYTES,
    ArchiveLimits,
    iter_files,
    native_content_rule,
    nested_archive_rule,
    read_archive,
)
from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.manifest import parse_manifest
from proofpix_plugins.packages.pack import write_archive
from proofpix_plugins.scanning.check import Check, dedupe
from proofpix_plugins.scanning.checks.authoring import AuthoringCheck
from proofpix_plugins.scanning.checks.bandit_check import BanditCheck
from proofpix_plugins.scanning.checks.code import (
    DangerousModuleCheck,
    DynamicCodeCheck,
    EscapeGadgetCheck,
    FileAccessCheck,
)
from proofpix_plugins.scanning.checks.obfuscation import ObfuscationCheck
from proofpix_plugins.scanning.checks.package import (
    ArchiveCheck,
    CompatibilityCheck,
    ManifestCheck,
    SourceCheck,
    StructureCheck,
)
from proofpix_plugins.scanning.checks.permissions import PermissionCheck
from proofpix_plugins.scanning.checks.secrets import SecretsCheck
from proofpix_plugins.scanning.context import (
    MAX_SOURCE_BYTES,
    TEXT_SUFFIXES,
    ScanContext,
    parse_source_file,
)
from proofpix_plugins.scanning.findings import Finding
from proofpix_plugins.scanning.report import CheckRun, ScanReport
from proofpix_plugins.scanning.rules import rule

log = logging.getLogger(__name__)

_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of a scan.

    A large package means a million live AST nodes; every generation-2 collection during the scan
    walks all of them, which made scan time grow quadratically with package size. Reference
    counting still frees memory meanwhile. Nested/concurrent scans share one pause (a counter), so
    the collector is re-enabled exactly when the last scan ends, and only if it was on before.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def default_checks(*, disabled: Collection[str] = ()) -> list[Check]:
    """The standard check list; ``disabled`` names optional checks to switch off."""
    checks: list[Check] = [
        ArchiveCheck(), ManifestCheck(), StructureCheck(), CompatibilityCheck(), SourceCheck(),
        DynamicCodeCheck(), EscapeGadgetCheck(), DangerousModuleCheck(), ObfuscationCheck(),
        FileAccessCheck(), PermissionCheck(), SecretsCheck(), BanditCheck(), AuthoringCheck(),
    ]
    by_id = {c.id: c for c in checks}
    errors = []
    for check_id in disabled:
        if check_id not in by_id:
            errors.append(FieldError("disabled", f"unknown check {check_id!r}", "unknown-check",
                                     check_id))
        elif by_id[check_id].required:
            errors.append(FieldError("disabled", f"check {check_id!r} is required",
                                     "required-check", check_id))
    if errors:
        raise BadRequest("invalid check selection", errors)
    return [dataclasses.replace(c, enabled=c.id not in disabled)  # type: ignore[type-var]
            for c in checks]


def _load(ctx: ScanContext, path: Path, limits: ArchiveLimits) -> None:
    try:
        archive = read_archive(path, limits)
    except PackageError as exc:
        ctx.archive_errors = list(exc.errors)
        return
    ctx.archive = archive
    ctx.names = [e.name for e in archive.entries]
    try:
        for entry, data in iter_files(archive, max_bytes=MAX_SOURCE_BYTES):
            # A larger entry arrives truncated: its tail is checked when it is extracted.
            problem = native_content_rule(data[:HEAD_BYTES]) or nested_archive_rule(data)
            if problem:
                ctx.content_problems.append((entry.name, problem))
                continue
            lower = entry.name.lower()
            if lower.endswith(".py"):
                if entry.size > MAX_SOURCE_BYTES:
                    ctx.oversized_sources.append(entry.name)
                else:
                    ctx.sources[entry.name] = parse_source_file(entry.name, data)
            elif entry.size <= MAX_SOURCE_BYTES and (
                lower.endswith(TEXT_SUFFIXES) or "." not in lower.rsplit("/", 1)[-1]
            ):
                ctx.texts[entry.name] = data.decode("utf-8", "replace")
    except PackageError as exc:
        ctx.archive_errors = list(exc.errors)
        return
    try:
        ctx.manifest = parse_manifest(archive.manifest_bytes)
    except PackageError as exc:
        ctx.manifest_errors = list(exc.errors)


def _sort_key(f: Finding) -> tuple[int, str, int, int]:
    return (-f.severity.rank, f.file or "", f.line or 0, f.column or 0)


def run_checks(ctx: ScanContext, checks: Sequence[Check]) -> tuple[list[Finding], list[CheckRun]]:
    findings: list[Finding] = []
    runs: list[CheckRun] = []
    stop = bool(ctx.archive_errors)
    if not stop:
        # Checks with background work (bandit in worker processes) start it first, so it
        # overlaps the checks that run in this thread.
        for check in checks:
            start = getattr(check, "start", None)
            if check.enabled and callable(start):
                try:
                    start(ctx)
                except Exception:
                    log.exception("scanner check %s failed to start", check.id)
    for check in checks:
        if not check.enabled:
            continue
        if stop and check.id != "archive":
            runs.append(CheckRun(check.id, check.enforced, 0, 0.0, skipped=True))
            continue
        started = time.perf_counter()
        try:
            found = check.run(ctx)
        except Exception:
            # Fail closed: a check that cannot finish on this input rejects it.
            log.exception("scanner check %s failed", check.id)
            found = [rule("PPX-SCAN-ERROR").finding(f"check {check.id!r} failed on this package")]
        found = [dataclasses.replace(f, check=check.id) for f in dedupe(found)]
        findings += found
        runs.append(CheckRun(check.id, check.enforced, len(found),
                             (time.perf_counter() - started) * 1000))
    findings.sort(key=_sort_key)
    return _hide_secret_lines(findings), runs


#: bandit tests whose message quotes the suspected password.
_QUOTING_TESTS = ("PPX-BANDIT-B105", "PPX-BANDIT-B106", "PPX-BANDIT-B107")


def _hide_secret_lines(findings: list[Finding]) -> list[Finding]:
    """Reports are stored and shown: no finding may repeat a line that holds a secret."""
    secret_lines = {(f.file, f.line) for f in findings if f.rule_id.startswith("PPX-SECRET-")}
    out = []
    for f in findings:
        if f.rule_id in _QUOTING_TESTS:
            f = dataclasses.replace(f, message=f"bandit {f.rule_id[11:]}: possible hard-coded "
                                    "password (value hidden)", snippet=None)
        elif not f.rule_id.startswith("PPX-SECRET-") and (f.file, f.line) in secret_lines:
            f = dataclasses.replace(f, snippet="(hidden: the line holds a secret)")
        out.append(f)
    return out


def scan_package(
    ppx_path: Path,
    *,
    platform_version: str,
    python_version: str,
    installed: Mapping[str, str] | None = None,
    checks: Sequence[Check] | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ScanReport:
    """Scan a ``.ppx`` without executing it.

    ``installed`` (plugin id → version) enables dependency resolution; leave it None where the
    target organization is unknown (e.g. marketplace submission).
    """
    started = time.perf_counter()
    checks = default_checks() if checks is None else checks
    ctx = ScanContext(None, platform_version, python_version, installed)
    with _gc_paused():
        _load(ctx, ppx_path, limits)
        findings, runs = run_checks(ctx, checks)
        # Free the trees while the collector is still paused: freed by reference counting, they
        # also no longer count towards the collection that resuming it would start (which
        # otherwise walked every node of the package once more, about 6 ms for 100 KB).
        ctx.sources.clear()
    return ScanReport(
        sha256=ctx.archive.sha256 if ctx.archive else None,
        manifest=ctx.manifest,
        findings=findings,
        checks=runs,
        duration_ms=(time.perf_counter() - started) * 1000,
        enforced_checks=frozenset(c.id for c in checks if c.enforced),
    )


def scan_directory(
    src_dir: Path,
    *,
    platform_version: str,
    python_version: str,
    installed: Mapping[str, str] | None = None,
    checks: Sequence[Check] | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ScanReport:
    """Scan a plugin source tree exactly as its packed ``.ppx`` would be scanned."""
    with tempfile.TemporaryDirectory(prefix="ppx-scan-") as tmp:
        out = Path(tmp) / "package.ppx"
        write_archive(src_dir, out)
        return scan_package(out, platform_version=platform_version,
                            python_version=python_version, installed=installed, checks=checks,
                            limits=limits)
