"""Which IP addresses the http capability may connect to.

A deny-by-table classifier: every range that is not ordinary public unicast has a named reason,
and anything the tables miss but the IANA special-purpose registries (as ``ipaddress`` knows
them) still call non-global is refused as ``not-global``. IPv6 forms that carry an IPv4 address
(IPv4-mapped, NAT64, 6to4, Teredo) are judged by the IPv4 address they lead to, because that is
where a translator or relay would deliver the packets. IPv6 outside 2000::/3 (global unicast) is
refused unless it is such an embedding: nothing else there is reachable on the public internet.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

#: Cloud instance-metadata and host-agent endpoints: named first so logs say what was hit.
_METADATA_V4: Final = frozenset(
    ipaddress.IPv4Address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle IMDS
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity agent
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure WireServer: a public address, so the ranges below miss it
        "192.0.0.192",  # Oracle Cloud legacy metadata
    )
)
_METADATA_V6: Final = frozenset(
    ipaddress.IPv6Address(a)
    for a in (
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",  # AWS VPC DNS over IPv6
        "fd00:ec2::123",  # AWS time sync over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
    )
)

# Order matters only for the reason reported: the most specific name comes first.
_REFUSED_V4: Final[tuple[tuple[_V4, str], ...]] = (
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("0.0.0.0/32"), "unspecified"),
    (_V4("0.0.0.0/8"), "this-network"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "cgnat"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.31.196.0/24"), "reserved"),  # AS112
    (_V4("192.52.193.0/24"), "reserved"),  # AMT
    (_V4("192.88.99.0/24"), "reserved"),  # deprecated 6to4 relay anycast
    (_V4("192.168.0.0/16"), "private"),
    (_V4("192.175.48.0/24"), "reserved"),  # direct delegation AS112
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

_REFUSED_V6: Final[tuple[tuple[_V6, str], ...]] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "ipv4-compatible"),  # deprecated by RFC 4291; nothing legitimate uses it
    (_V6("64:ff9b:1::/48"), "nat64-local"),  # local-use translation prefix (RFC 8215)
    (_V6("100::/64"), "discard"),
    (_V6("2001:2::/48"), "benchmarking"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),  # RFC 9637
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments (Teredo is judged before this)
    (_V6("5f00::/16"), "reserved"),  # SRv6 SIDs
    (_V6("fc00::/7"), "private"),  # unique local
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)

_NAT64_WELL_KNOWN: Final = _V6("64:ff9b::/96")
_GLOBAL_UNICAST: Final = _V6("2000::/3")


def parse_address(text: str) -> IPAddress | None:
    """Parse an IP literal as a resolver or a URL gives it; ``None`` if it is not one."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def refusal_reason(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` may not be connected to, or ``None`` if it is ordinary public unicast.

    ``allow_loopback`` is the test-only switch: it lets 127/8 and ::1 through (and IPv6 forms
    that embed a loopback IPv4), and nothing else.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return _v4_reason(address, allow_loopback)
    return _v6_reason(address, allow_loopback)


def _v4_reason(address: ipaddress.IPv4Address, allow_loopback: bool) -> str | None:
    if address in _METADATA_V4:
        return "cloud-metadata"
    for network, reason in _REFUSED_V4:
        if address in network:
            if reason == "loopback" and allow_loopback:
                return None
            return reason
    if not address.is_global:
        return "not-global"
    return None


def _v6_reason(address: ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    if address.scope_id is not None:
        # Zone identifiers only exist for link-scoped addresses; never a public destination.
        return "scoped"
    if address in _METADATA_V6:
        return "cloud-metadata"
    embedded = _embedded_v4(address)
    if embedded is not None:
        for kind, v4 in embedded:
            inner = _v4_reason(v4, allow_loopback)
            if inner is not None:
                return f"{kind}:{inner}"
        return None
    if address == ipaddress.IPv6Address("::1") and allow_loopback:
        return None
    for network, reason in _REFUSED_V6:
        if address in network:
            return reason
    if address not in _GLOBAL_UNICAST:
        return "reserved"
    if not address.is_global:
        return "not-global"
    return None


def _embedded_v4(
    address: ipaddress.IPv6Address,
) -> list[tuple[str, ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 address would deliver to, for the forms that embed one."""
    mapped = address.ipv4_mapped
    if mapped is not None:
        return [("ipv4-mapped", mapped)]
    if address in _NAT64_WELL_KNOWN:
        return [("nat64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))]
    sixtofour = address.sixtofour
    if sixtofour is not None:
        return [("6to4", sixtofour)]
    teredo = address.teredo
    if teredo is not None:
        server, client = teredo
        return [("teredo-server", server), ("teredo-client", client)]
    return None
