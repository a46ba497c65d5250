"""Permission consistency: what the code imports and which ``ctx`` capabilities it touches must
match the permissions the manifest asks the admin to grant.

A URL's host is judged by the egress guard's own matcher (``runtime/egress/hosts.py``): the same
canonical form (IDNA, case, trailing dot) and the same :class:`AllowList`, so the scanner flags
exactly the hosts ``ctx.http`` will refuse at call time.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from proofpix_plugins.errors import ValidationFailed
from proofpix_plugins.packages.permissions import PERMISSION_ORDER, PERMISSIONS
from proofpix_plugins.runtime.egress.hosts import AllowList, HostSyntaxError, canonical_host
from proofpix_plugins.scanning.check import at
from proofpix_plugins.scanning.context import ScanContext, SourceFile
from proofpix_plugins.scanning.findings import Finding
from proofpix_plugins.scanning.rules import rule

#: Library (module prefix) → the permission whose capability it provides. Documented in
#: docs/scanner-rules.md. The sandbox has no network route, so an HTTP library only makes sense
#: for a plugin that declares ``http`` (and then it should use ``ctx.http``).
IMPORT_PERMISSIONS: Final[dict[str, str]] = {
    "urllib.request": "http", "urllib3": "http", "http.client": "http", "httpx": "http",
    "requests": "http", "aiohttp": "http", "websocket": "http", "websockets": "http",
    "pycurl": "http", "httplib2": "http",
    "PIL": "images", "imageio": "images", "cv2": "images", "skimage": "images",
    "wand": "images", "pyvips": "images",
    "hashlib": "crypto", "hmac": "crypto", "cryptography": "crypto", "Crypto": "crypto",
    "Cryptodome": "crypto", "nacl": "crypto", "secrets": "crypto", "bcrypt": "crypto",
    "argon2": "crypto", "jwt": "crypto",
}
#: ``ctx.<attribute>`` → permission it needs; ``config`` is free (secrets in it are redacted).
CTX_CAPABILITIES: Final[dict[str, str]] = {p: p for p in PERMISSIONS}
_URL: Final = re.compile(r"https?://[^\s'\"<>]+")


def import_permission(module: str) -> str | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        found = IMPORT_PERMISSIONS.get(".".join(parts[:i]))
        if found:
            return found
    return None


def allow_list(entries: list[str]) -> AllowList:
    """The manifest's ``network.allow`` as the egress guard parses it.

    A parsed manifest only holds entries the guard accepts; should one not parse, nothing is
    allowed, so every URL is flagged rather than none.
    """
    try:
        return AllowList.parse(entries)
    except ValidationFailed:
        return AllowList(frozenset(), ())


def host_allowed(host: str, allow: AllowList) -> bool:
    """Whether ``ctx.http`` may reach ``host`` (as written in a URL) under ``allow``: exact
    names match themselves, ``*.example.com`` matches subdomains, not the apex; a host the
    guard cannot read is refused, as at call time."""
    try:
        return allow.allows(canonical_host(host))
    except HostSyntaxError:
        return False


def _uses(source: SourceFile) -> list[tuple[str, str, ast.AST]]:
    """(permission, what, node) for each import or ctx capability use in the file."""
    facts = source.facts
    out: list[tuple[str, str, ast.AST]] = []
    for module, node in facts.imports:
        needed = import_permission(module)
        if needed:
            out.append((needed, f"imports {module}", node))
    for attr in facts.attributes:
        if (
            attr.attr in CTX_CAPABILITIES
            and isinstance(attr.value, ast.Name)
            and attr.value.id in facts.ctx_names
        ):
            out.append((CTX_CAPABILITIES[attr.attr], f"uses {attr.value.id}.{attr.attr}", attr))
    return out


def _uses_config(ctx: ScanContext) -> bool:
    return any(
        isinstance(a.value, ast.Name) and a.value.id in s.facts.ctx_names and a.attr == "config"
        for s in ctx.parsed_sources for a in s.facts.attributes
    )


@dataclass
class PermissionCheck:
    id: str = "permissions"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("The code only uses capabilities whose permissions the manifest declares, "
                    "and only calls hosts listed in network.allow.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        manifest = ctx.manifest
        if manifest is None:
            return []
        declared = set(manifest.permissions)
        allow = allow_list(manifest.network.allow)
        used: set[str] = set()
        out: list[Finding] = []
        for source in ctx.parsed_sources:
            for permission, what, node in _uses(source):
                used.add(permission)
                if permission in declared:
                    continue
                rule_id = "PPX-PERM-IMPORT" if what.startswith("imports") else "PPX-PERM-UNDECLARED"
                out.append(at(rule_id, source, node,
                              f"{what}, which needs the {permission!r} permission"))
            if "http" in declared:
                out += self._urls(source, allow)
        if "secrets" in declared and _uses_config(ctx):
            used.add("secrets")  # secret values arrive through ctx.config
        for permission in PERMISSION_ORDER:
            if permission in declared and permission not in used:
                out.append(rule("PPX-PERM-UNUSED").finding(
                    f"permissions: {permission!r} is requested but never used",
                    file="plugin.json"))
        if "http" in declared and not manifest.network.allow:
            out.append(rule("PPX-PERM-NO-HOSTS").finding(file="plugin.json"))
        return out

    @staticmethod
    def _urls(source: SourceFile, allow: AllowList) -> list[Finding]:
        out = []
        for const in source.facts.strings:
            if not isinstance(const.value, str) or "://" not in const.value:
                continue
            for match in _URL.finditer(const.value):
                try:
                    host = urlsplit(match.group(0)).hostname
                except ValueError:  # e.g. an unbalanced IPv6 bracket: not a URL we can judge
                    continue
                if host and not host_allowed(host, allow):
                    out.append(at("PPX-PERM-HOST-NOT-ALLOWED", source, const,
                                  f"{host} is not in network.allow"))
        return out
