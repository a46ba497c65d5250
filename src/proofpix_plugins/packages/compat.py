"""Compatibility: engines against the platform and Python, dependencies against installed plugins.

Manifests use semantic versions; specifiers are PEP 440 (``packaging``). A semver pre-release maps
to PEP 440 where it can (``1.2.0-rc.1`` → ``1.2.0rc1``); any other pre-release tag becomes a
``.dev0`` of its release, which keeps the one ordering that matters: pre-release < release.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import semver
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from proofpix_plugins.errors import FieldError
from proofpix_plugins.packages.manifest import Manifest


def as_pep440(version: str) -> Version | None:
    """A semver (or PEP 440) version as a ``packaging`` Version, or None if it is neither."""
    try:
        return Version(version)
    except InvalidVersion:
        pass
    try:
        parsed = semver.Version.parse(version)
    except ValueError:
        return None
    return Version(f"{parsed.major}.{parsed.minor}.{parsed.patch}.dev0")


def satisfies(version: str, specifier: str) -> bool:
    """Whether ``version`` is inside ``specifier`` (pre-releases count as candidates)."""
    parsed = as_pep440(version)
    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier:
        return False
    return parsed is not None and spec.contains(parsed, prereleases=True)


def check_engines(
    manifest: Manifest, platform_version: str, python_version: str
) -> list[FieldError]:
    """Errors for each ``engines`` range the given platform/Python versions fall outside of."""
    errors = []
    for field, wanted, have in (
        ("proofpix", manifest.engines.proofpix, platform_version),
        ("python", manifest.engines.python, python_version),
    ):
        if wanted and not satisfies(have, wanted):
            errors.append(FieldError(
                f"engines.{field}",
                f"requires {field} {wanted}, this platform has {have}",
                f"PPX-COMPAT-{field.upper()}", wanted,
            ))
    return errors


def resolve_dependencies(manifest: Manifest, installed: Mapping[str, str]) -> list[FieldError]:
    """Errors for each dependency that is not installed or whose installed version is out of range.

    ``installed`` maps plugin id → installed version (for the organization installing).
    """
    errors = []
    for dep_id, wanted in sorted(manifest.dependencies.items()):
        field = f"dependencies[{json.dumps(dep_id)}]"
        have = installed.get(dep_id)
        if have is None:
            errors.append(FieldError(field, f"requires plugin {dep_id} {wanted}, not installed",
                                     "PPX-DEP-MISSING", dep_id))
        elif not satisfies(have, wanted):
            errors.append(FieldError(
                field, f"requires plugin {dep_id} {wanted}, installed is {have}",
                "PPX-DEP-VERSION", have,
            ))
    return errors
