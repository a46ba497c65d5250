"""Decoding ``marketplace_listings.facet_code`` (migration 0016) into what search counts.

The code is ``category number << 16 | type number << 8 | permission bits``: numbers are
1-based positions in the manifest's ``CATEGORIES`` and ``PLUGIN_TYPES`` (0 = none of them),
bit *i* is the *i*-th permission of SPEC §2 (``PERMISSION_ORDER``). The database computes it
(a trigger on SQLite, a generated column on PostgreSQL), so every writer keeps it; this side
only reads it. The migration holds its own copy of the vocabularies; ``test_facet_code.py``
round-trips every value through a real database, so a vocabulary that grows without a
migration fails there.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import NamedTuple

from proofpix_plugins.packages.manifest import CATEGORIES, PLUGIN_TYPES
from proofpix_plugins.runtime.limits import PERMISSION_ORDER


class Facets(NamedTuple):
    category: str | None
    type: str | None
    permissions: frozenset[str]


def _nth(values: tuple[str, ...], number: int) -> str | None:
    return values[number - 1] if 1 <= number <= len(values) else None


@lru_cache(maxsize=4096)
def decode(code: int) -> Facets:
    """What one code says; a search's hits carry a few hundred distinct codes at most."""
    permissions = frozenset(p for i, p in enumerate(PERMISSION_ORDER) if code >> i & 1)
    return Facets(_nth(CATEGORIES, code >> 16 & 0xFF), _nth(PLUGIN_TYPES, code >> 8 & 0xFF),
                  permissions)


def category_number(category: str) -> int:
    return CATEGORIES.index(category) + 1 if category in CATEGORIES else 0


def type_number(type_: str) -> int:
    return PLUGIN_TYPES.index(type_) + 1 if type_ in PLUGIN_TYPES else 0


def permission_bits(permissions: Collection[str]) -> int:
    return sum(1 << i for i, p in enumerate(PERMISSION_ORDER) if p in permissions)


def wanted_bits(permissions: Collection[str]) -> int | None:
    """The bits a listing must hold for all of ``permissions``; None if one is no permission
    at all (then no listing holds them)."""
    if not set(permissions) <= set(PERMISSION_ORDER):
        return None
    return permission_bits(permissions)


def encode(category: str, type_: str, permissions: Collection[str]) -> int:
    """The code the database stores for these values (tests compare the two)."""
    return category_number(category) << 16 | type_number(type_) << 8 | permission_bits(
        permissions)
