"""Which namespaces a developer may claim, and why one is refused.

A namespace is the publisher part of plugin ids (``acme`` in ``acme.exif-reader``), so it
follows the manifest's id rule. Beyond the syntax it must not impersonate anyone:

* **reserved** names (:data:`RESERVED`) belong to the platform; a name whose skeleton is a
  reserved name's (``pr0ofpix``), or, for reserved names of five characters or more, within one
  edit of it (``proofpx``), is refused too;
* **confusable** with an existing namespace: the same TR39 skeleton (``developers/skeleton.py``).
  The skeleton is stored in a unique column, so two concurrent registrations of look-alikes
  cannot both win even when both pass this check;
* **too similar to a verified** namespace: Damerau-Levenshtein distance (optimal string
  alignment) between skeletons of at most 1 for names up to 6 characters and 2 above, the way
  Open VSX and PyPI's typo checks protect established names.

Each reason has a stable rule id (:class:`Rule`) reported in the problem's ``errors[]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Final

from proofpix_plugins.developers.skeleton import skeleton

#: The manifest's id part (packages/manifest.py ``_ID_PART``): what a plugin id can carry.
NAMESPACE_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,23}")

#: Names the platform keeps: its own brand, roles and words users would trust as official.
#: Compared by skeleton, so look-alikes of these are reserved too.
RESERVED: Final = frozenset({
    "proofpix", "admin", "administrator", "official", "root", "system", "support", "security",
    "api", "marketplace", "plugins", "plugin", "developer", "developers", "staff", "team",
    "help", "helpdesk", "abuse", "billing", "moderator", "verified", "trust", "safety",
    "status", "docs", "sdk", "www", "mail", "postmaster", "webmaster", "hostmaster", "null",
    "undefined", "anonymous", "everyone", "internal", "core", "platform", "proofpix-official",
    "proofpix-team", "proofpix-support",
})
#: Reserved names at least this long are also protected against small edits.
_RESERVED_FUZZY_MIN: Final = 5


class Rule(StrEnum):
    """Why a namespace is refused (the ``rule`` of the problem's field error)."""

    malformed = "namespace_format"
    reserved = "namespace_reserved"
    taken = "namespace_taken"
    confusable = "namespace_confusable"
    similar = "namespace_similar_to_verified"


def format_problem(namespace: str) -> str | None:
    if NAMESPACE_PATTERN.fullmatch(namespace):
        return None
    return ("must be 2-24 characters: lowercase a-z or 0-9 first, then a-z, 0-9 or '-' "
            "(it becomes the first part of your plugin ids)")


def max_distance(name_skeleton: str) -> int:
    return 1 if len(name_skeleton) <= 6 else 2


def osa_distance(a: str, b: str, bound: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, capped at ``bound + 1``."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > bound:
            return bound + 1
        previous2, previous = previous, row
    return previous[-1]


_RESERVED_SKELETONS: Final = {skeleton(name): name for name in RESERVED}


def reserved_match(name_skeleton: str) -> str | None:
    """The reserved name this skeleton imitates, if any."""
    exact = _RESERVED_SKELETONS.get(name_skeleton)
    if exact is not None:
        return exact
    for reserved_skeleton, name in _RESERVED_SKELETONS.items():
        if len(name) < _RESERVED_FUZZY_MIN:
            continue
        bound = max_distance(reserved_skeleton)
        if osa_distance(name_skeleton, reserved_skeleton, bound) <= bound:
            return name
    return None


def similar_verified(name_skeleton: str, verified: Iterable[tuple[str, str]]) -> str | None:
    """The verified namespace (of ``(namespace, skeleton)`` pairs) this one is too close to."""
    bound = max_distance(name_skeleton)
    for namespace, other in verified:
        if osa_distance(name_skeleton, other, bound) <= bound:
            return namespace
    return None
