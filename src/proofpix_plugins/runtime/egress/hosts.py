"""Host names for the http capability: one canonical form, and the manifest's allow list.

A host is compared in one canonical form: lower case, IDNA A-labels, no trailing dot, IP literals
in ``ipaddress``'s compressed notation. Names whose last label is all digits are refused outright:
no top-level domain is numeric, and such names are how ``127.1``, ``0x7f.1`` or ``2130706433``
smuggle an IPv4 address past a parser into ``getaddrinfo``.

:func:`parse_allow_entry` is the one definition of a valid ``network.allow`` entry. The manifest
(``packages/manifest.py``) accepts only entries this parser accepts, and adds a stricter policy
of its own on top.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import idna

from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.runtime.egress.address import parse_address

_LABEL: Final = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_MAX_NAME: Final = 253


class HostSyntaxError(ValueError):
    """A host is neither a well-formed DNS name nor an IP literal."""


class WildcardTooBroad(HostSyntaxError):
    """A ``*.`` allow-list entry covers a whole top-level domain."""


def canonical_host(raw: str) -> str:
    """The canonical form of a host from a URL or an allow list; raises HostSyntaxError."""
    host = raw.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        literal = parse_address(host)
        if literal is None or literal.version != 6:
            raise HostSyntaxError("bracketed host is not an IPv6 address")
    if "%" in host:
        # Percent-encoding and IPv6 zone identifiers both have no place in a public host.
        raise HostSyntaxError("host contains '%'")
    literal = parse_address(host)
    if literal is not None:
        return literal.compressed
    if host.endswith("."):
        host = host[:-1]
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii") if host else ""
    except idna.IDNAError:
        # idna refuses '_', which real (if odd) host names do carry; judge those by LDH below.
        ascii_host = host.lower() if host.isascii() else ""
    if not ascii_host or len(ascii_host) > _MAX_NAME:
        raise HostSyntaxError("host name is empty or longer than 253 characters")
    labels = ascii_host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise HostSyntaxError("host name has a label that is not letters, digits and hyphens")
    if labels[-1].isdigit():
        raise HostSyntaxError("host name ends in a numeric label (an IPv4 address in disguise)")
    return ascii_host


def parse_allow_entry(entry: str) -> tuple[str, bool]:
    """A ``network.allow`` entry as the guard matches it: its canonical host, and whether it is a
    ``*.`` wildcard; raises HostSyntaxError (WildcardTooBroad for ``*.com``)."""
    wildcard = entry.startswith("*.")
    host = canonical_host(entry[2:] if wildcard else entry)
    if wildcard:
        if parse_address(host) is not None:
            raise HostSyntaxError("a wildcard cannot cover an IP address")
        if host.count(".") < 1:
            raise WildcardTooBroad("a wildcard must cover a domain of at least two labels")
    return host, wildcard


@dataclass(frozen=True, slots=True)
class AllowList:
    """The hosts a plugin's manifest lists in ``network.allow``, matched case-insensitively."""

    exact: frozenset[str]
    suffixes: tuple[str, ...]

    @classmethod
    def parse(cls, entries: Iterable[str], field: str = "network.allow") -> AllowList:
        """Parse manifest entries; a bad entry raises ValidationFailed naming it and the rule."""
        exact: set[str] = set()
        suffixes: list[str] = []
        errors: list[FieldError] = []
        for index, entry in enumerate(entries):
            where = f"{field}[{index}]"
            if not isinstance(entry, str):
                errors.append(FieldError(where, "must be a string", "host-pattern", entry))
                continue
            try:
                host, wildcard = parse_allow_entry(entry)
            except WildcardTooBroad as exc:
                errors.append(FieldError(where, str(exc), "wildcard-too-broad", entry))
            except HostSyntaxError as exc:
                errors.append(FieldError(where, str(exc), "host-pattern", entry))
            else:
                if wildcard:
                    suffixes.append("." + host)
                else:
                    exact.add(host)
        if errors:
            raise ValidationFailed("invalid network allow list", errors=tuple(errors))
        return cls(frozenset(exact), tuple(suffixes))

    def allows(self, host: str) -> bool:
        """Whether a canonical host is listed: exactly, or as a subdomain of a ``*.`` entry.

        A wildcard never matches an IP literal, and never the bare domain itself.
        """
        if host in self.exact:
            return True
        if parse_address(host) is not None:
            return False
        return any(host.endswith(suffix) for suffix in self.suffixes)
