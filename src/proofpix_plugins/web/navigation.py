"""The console's navigation: one list of sections, so later pages slot in by adding a line.

Sections whose area is not built yet are simply absent (the marketplace, developer portal and
platform administration join here when their packages are merged). ``visible`` decides who sees
a link; the routes decide again who may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proofpix_plugins.accounts.auth import Principal
from proofpix_plugins.models.accounts import Role, Tier


@dataclass(frozen=True, slots=True)
class Section:
    label: str
    href: str
    visible: Callable[[Principal | None], bool]


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    href: str
    current: bool


def _anyone(_: Principal | None) -> bool:
    return True


def _enterprise_member(principal: Principal | None) -> bool:
    return principal is not None and principal.tier is Tier.enterprise


def _org_admin(principal: Principal | None) -> bool:
    return (principal is not None and principal.tier is Tier.enterprise
            and principal.role in (Role.owner, Role.admin))


def _platform_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.is_platform_admin


def _signed_in(principal: Principal | None) -> bool:
    return principal is not None


SECTIONS: list[Section] = [
    Section("Marketplace", "/", _anyone),
    Section("Installed plugins", "/console/plugins", _enterprise_member),
    Section("Install", "/console/install", _enterprise_member),
    Section("Updates", "/console/updates", _org_admin),
    Section("Photos", "/console/photos", _signed_in),
    Section("Developer portal", "/console/developer", _signed_in),
    Section("Review queue", "/console/admin/review", _platform_admin),
    Section("Featured", "/console/admin/featured", _platform_admin),
    Section("Takedowns", "/console/admin/listings", _platform_admin),
    Section("Analytics", "/console/admin/analytics", _platform_admin),
]


def navigation(path: str, principal: Principal | None) -> list[NavLink]:
    links = [s for s in SECTIONS if s.visible(principal)]
    # The longest matching prefix is the current page ("/" only matches itself).
    best = max((s.href for s in links if path == s.href or (s.href != "/" and
                path.startswith(s.href + "/")) or path == s.href), key=len, default=None)
    return [NavLink(s.label, s.href, s.href == best) for s in links]
