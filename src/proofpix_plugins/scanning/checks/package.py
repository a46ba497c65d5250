"""Checks over the package as a whole: archive, manifest, structure, compatibility, sources."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from proofpix_plugins.errors import FieldError
from proofpix_plugins.packages.compat import check_engines, resolve_dependencies
from proofpix_plugins.packages.manifest import MANIFEST_NAME
from proofpix_plugins.packages.structure import check_structure
from proofpix_plugins.scanning.checks.authoring import manifest_line
from proofpix_plugins.scanning.context import MAX_SOURCE_BYTES, ScanContext
from proofpix_plugins.scanning.findings import Finding
from proofpix_plugins.scanning.rules import rule

#: A FieldError whose field is a source location rather than a manifest field.
_SOURCE_AT = re.compile(r"(.+\.py):(\d+)")


def from_field_error(error: FieldError, *, file: str | None = None,
                     manifest_text: str | None = None) -> Finding:
    """A package-domain FieldError as a finding (same rule id); with ``manifest_text``, a
    finding in plugin.json gets the line of its field."""
    try:
        r = rule(error.rule or "")
    except KeyError:
        r = rule("PPX-MAN-INVALID")
    snippet = None
    if error.value is not None:
        snippet = json.dumps(error.as_dict()["value"])
    located = _SOURCE_AT.fullmatch(error.field)
    if file is not None and located:  # "plugin/__init__.py:13": the finding is in the source
        return r.finding(error.message, file=located[1], line=int(located[2]), snippet=snippet)
    if file is not None:
        line = manifest_line(manifest_text, error.field) if manifest_text else None
        return r.finding(f"{error.field}: {error.message}", file=file, snippet=snippet,
                         line=line)
    if error.field.startswith("("):  # "(archive)": about the whole archive, not one entry
        return r.finding(error.message, snippet=snippet)
    return r.finding(error.message, file=error.field, snippet=snippet)


def _text(ctx: ScanContext) -> str | None:
    if ctx.archive is None:
        return None
    return ctx.archive.manifest_bytes.decode("utf-8", "replace")


@dataclass
class ArchiveCheck:
    id: str = "archive"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("The archive is a plain zip within the size limits, without path tricks, "
                    "links, native code or bytecode.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        out = [from_field_error(e) for e in ctx.archive_errors]
        out += [rule(r).finding(file=name) for name, r in ctx.content_problems]
        return out


@dataclass
class ManifestCheck:
    id: str = "manifest"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = "plugin.json follows the manifest schema exactly."

    def run(self, ctx: ScanContext) -> list[Finding]:
        return [from_field_error(e, file=MANIFEST_NAME, manifest_text=_text(ctx))
                for e in ctx.manifest_errors]


@dataclass
class StructureCheck:
    id: str = "structure"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("The entry module exists and every declared hook handler is a top-level "
                    "function of it; nothing shadows the standard library or the SDK.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        if ctx.manifest is None:
            return []
        sources = {p: s.raw for p, s in ctx.sources.items()}
        return [from_field_error(e, file=MANIFEST_NAME, manifest_text=_text(ctx))
                for e in check_structure(ctx.manifest, sources, ctx.names)]


@dataclass
class CompatibilityCheck:
    id: str = "compatibility"
    enabled: bool = True
    enforced: bool = True
    required: bool = False
    message: str = ("engines admit this platform and Python version; dependencies are installed "
                    "(when the installed set is known).")

    def run(self, ctx: ScanContext) -> list[Finding]:
        if ctx.manifest is None:
            return []
        errors = check_engines(ctx.manifest, ctx.platform_version, ctx.python_version)
        if ctx.installed is not None:
            errors += resolve_dependencies(ctx.manifest, ctx.installed)
        return [from_field_error(e, file=MANIFEST_NAME) for e in errors]


@dataclass
class SourceCheck:
    id: str = "sources"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = "Every Python file is UTF-8, parses, and is small enough to analyse."

    def run(self, ctx: ScanContext) -> list[Finding]:
        out = [rule("PPX-SRC-TOO-LARGE").finding(
            f"larger than {MAX_SOURCE_BYTES} bytes", file=p) for p in ctx.oversized_sources]
        for source in ctx.sources.values():
            if source.error is None:
                continue
            rule_id = "PPX-SRC-ENCODING" if source.text is None else "PPX-SRC-SYNTAX"
            out.append(rule(rule_id).finding(source.error, file=source.path,
                                             line=source.error_line))
        return out
