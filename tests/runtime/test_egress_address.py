"""Refused address ranges, judged through fetch() with DNS answers faked (DNS is off-machine)."""

from __future__ import annotations

import ipaddress

import pytest

from proofpix_plugins.runtime.egress.address import refusal_reason
from proofpix_plugins.runtime.egress.fetch import EgressDenied, HttpPolicy, fetch


class StaticDNS:
    """Answers every name with the same records, and counts the questions."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return list(self.answers)


REFUSED: list[tuple[str, str]] = [
    # IPv4
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
    ("0.1.2.3", "this-network"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "cloud-metadata"),
    ("169.254.170.2", "cloud-metadata"),
    ("100.100.100.200", "cloud-metadata"),
    ("168.63.129.16", "cloud-metadata"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "reserved"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%1", "scoped"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fd00:ec2::254", "cloud-metadata"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("100::1", "discard"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("2001:10::1", "reserved"),
    ("5f00::1", "reserved"),
    ("4000::1", "reserved"),
    ("64:ff9b:1::a00:1", "nat64-local"),
    ("::ffff:0:a00:1", "reserved"),  # SIIT IPv4-translated form
    # IPv4 embedded in IPv6: judged by where the packets would end up
    ("::ffff:127.0.0.1", "ipv4-mapped:loopback"),
    ("::ffff:10.1.2.3", "ipv4-mapped:private"),
    ("::ffff:169.254.169.254", "ipv4-mapped:cloud-metadata"),
    ("::127.0.0.1", "ipv4-compatible"),
    ("::10.0.0.1", "ipv4-compatible"),
    ("64:ff9b::127.0.0.1", "nat64:loopback"),
    ("64:ff9b::a9fe:a9fe", "nat64:cloud-metadata"),
    ("64:ff9b::192.168.0.1", "nat64:private"),
    ("2002:7f00:1::1", "6to4:loopback"),
    ("2002:a00:1::", "6to4:private"),
    ("2002:a9fe:a9fe::1", "6to4:cloud-metadata"),
    # Teredo: server 65.54.227.120, client obfuscated (bits inverted) to 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo-client:loopback"),
    ("2001:0:a00:1:8000:63bf:3fff:fdd2", "teredo-server:private"),
]

PUBLIC: list[str] = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo with public server and client (8.8.8.8)
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_range_has_its_named_reason(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_is_accepted(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "reason"), REFUSED)
async def test_fetch_refuses_a_name_resolving_to_a_refused_range(address: str, reason: str) -> None:
    dns = StaticDNS(address)
    policy = HttpPolicy(allow_hosts=("api.example.com",))
    with pytest.raises(EgressDenied) as caught:
        await fetch(policy, "GET", "https://api.example.com/x", resolver=dns)
    assert caught.value.rule == "address-refused"
    assert f"({reason})" in caught.value.detail
    assert caught.value.status == 403
    # The refused address itself is never echoed back to the plugin.
    assert address not in caught.value.detail
    assert dns.calls == 1


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1"])
async def test_one_refused_answer_among_public_ones_refuses_the_request(address: str) -> None:
    policy = HttpPolicy(allow_hosts=("api.example.com",))
    with pytest.raises(EgressDenied) as caught:
        await fetch(
            policy,
            "GET",
            "https://api.example.com/",
            resolver=StaticDNS("8.8.8.8", address, "1.1.1.1"),
        )
    assert caught.value.rule == "address-refused"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:7f00:1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://10.0.0.1/",
    ],
)
async def test_ip_literal_listed_literally_is_still_address_checked(url: str) -> None:
    host = url.split("/")[2]
    dns = StaticDNS("8.8.8.8")
    with pytest.raises(EgressDenied) as caught:
        await fetch(HttpPolicy(allow_hosts=(host,)), "GET", url, resolver=dns)
    assert caught.value.rule == "address-refused"
    # A literal is never handed to the resolver: there is nothing to resolve.
    assert dns.calls == 0


def test_loopback_switch_lets_only_loopback_through() -> None:
    assert refusal_reason(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert refusal_reason(ipaddress.ip_address("::1"), allow_loopback=True) is None
    assert refusal_reason(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "fe80::1", "0.0.0.0", "::"):  # noqa: S104
        assert refusal_reason(ipaddress.ip_address(other), allow_loopback=True) is not None


async def test_loopback_switch_covers_only_the_names_it_lists() -> None:
    policy = HttpPolicy(
        allow_hosts=("api.example.com", "other.example.com"),
        test_allow_loopback=("api.example.com",),
    )
    with pytest.raises(EgressDenied) as caught:
        await fetch(policy, "GET", "http://other.example.com/", resolver=StaticDNS("127.0.0.1"))
    assert caught.value.rule == "address-refused"


async def test_loopback_switch_does_not_open_private_ranges() -> None:
    policy = HttpPolicy(allow_hosts=("api.example.com",), test_allow_loopback=("api.example.com",))
    with pytest.raises(EgressDenied) as caught:
        await fetch(policy, "GET", "http://api.example.com/", resolver=StaticDNS("10.0.0.1"))
    assert caught.value.rule == "address-refused"
