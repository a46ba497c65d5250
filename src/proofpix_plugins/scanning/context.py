"""What every check sees: the validated archive, its file contents, the manifest and parsed sources.

The context is built once per scan by :mod:`proofpix_plugins.scanning.scanner`; sources are parsed
with :mod:`ast` and never imported.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

from proofpix_plugins.errors import FieldError
from proofpix_plugins.packages.archive import PackageArchive
from proofpix_plugins.packages.manifest import Manifest
from proofpix_plugins.scanning.facts import CodeFacts, collect_facts

#: Python sources bigger than this are not analysed (and therefore rejected).
MAX_SOURCE_BYTES = 1024 * 1024
#: Text files scanned for secrets besides Python sources.
TEXT_SUFFIXES = (".py", ".json", ".md", ".txt", ".cfg", ".ini", ".toml", ".yaml", ".yml",
                 ".env", ".csv", ".xml", ".html", ".js", ".pem", ".key", ".sh", ".rst")


@dataclass
class SourceFile:
    """One Python file of the package: raw bytes, decoded text and tree (when parseable)."""

    path: str
    raw: bytes
    text: str | None = None
    tree: ast.Module | None = None
    error: str | None = None
    error_line: int | None = None
    _lines: list[str] | None = None
    _facts: CodeFacts | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = (self.text or "").splitlines()
        return self._lines

    def snippet(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        text = self.lines[line - 1].strip()
        return text if len(text) <= 160 else text[:157] + "..."

    @property
    def facts(self) -> CodeFacts:
        if self._facts is None:
            assert self.tree is not None, "facts need a parsed tree"
            self._facts = collect_facts(self.tree)
        return self._facts


def parse_source_file(path: str, raw: bytes) -> SourceFile:
    source = SourceFile(path, raw)
    try:
        source.text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        source.error = f"is not UTF-8 (byte {exc.start})"
        return source
    try:
        source.tree = ast.parse(source.text, filename=path)
    except SyntaxError as exc:
        source.error = f"cannot be parsed: {exc.msg}"
        source.error_line = exc.lineno
    except (ValueError, RecursionError, MemoryError) as exc:
        # Null bytes, absurd nesting: still "cannot be analysed", never a crash.
        source.error = f"cannot be parsed: {type(exc).__name__}"
    return source


@dataclass
class ScanContext:
    archive: PackageArchive | None
    platform_version: str
    python_version: str
    installed: Mapping[str, str] | None = None
    #: Errors from reading the archive (the scan stops at those).
    archive_errors: list[FieldError] = field(default_factory=list)
    #: (archive path, rule id) for entries whose content is native code/bytecode.
    content_problems: list[tuple[str, str]] = field(default_factory=list)
    manifest: Manifest | None = None
    manifest_errors: list[FieldError] = field(default_factory=list)
    #: Python sources, by archive path.
    sources: dict[str, SourceFile] = field(default_factory=dict)
    #: Python files too big to analyse.
    oversized_sources: list[str] = field(default_factory=list)
    #: Other text files (for the secrets check), by archive path.
    texts: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    #: Background work checks started before the others ran (check id → handle).
    pending: dict[str, object] = field(default_factory=dict)

    @property
    def parsed_sources(self) -> list[SourceFile]:
        return [s for s in self.sources.values() if s.tree is not None]
