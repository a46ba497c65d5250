"""The ``.ppx`` package format: safe archive reader, writer (pack), manifest, structure,
compatibility, signing. Nothing here imports or runs plugin code, touches the database or speaks
HTTP."""

from __future__ import annotations

from proofpix_plugins.packages.archive import (
    DEFAULT_LIMITS,
    ArchiveEntry,
    ArchiveLimits,
    PackageArchive,
    extract_archive,
    read_archive,
)
from proofpix_plugins.packages.compat import check_engines, resolve_dependencies
from proofpix_plugins.packages.errors import KeyInvalid, PackageError, SignatureInvalid
from proofpix_plugins.packages.manifest import Manifest, compare_versions, parse_manifest
from proofpix_plugins.packages.pack import write_archive
from proofpix_plugins.packages.permissions import HOST_HOOKS, PERMISSIONS
from proofpix_plugins.packages.signing import generate_keypair, sign_digest, verify_digest

__all__ = [
    "DEFAULT_LIMITS",
    "HOST_HOOKS",
    "PERMISSIONS",
    "ArchiveEntry",
    "ArchiveLimits",
    "KeyInvalid",
    "Manifest",
    "PackageArchive",
    "PackageError",
    "SignatureInvalid",
    "check_engines",
    "compare_versions",
    "extract_archive",
    "generate_keypair",
    "parse_manifest",
    "read_archive",
    "resolve_dependencies",
    "sign_digest",
    "verify_digest",
    "write_archive",
]
