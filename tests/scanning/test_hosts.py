"""The scanner judges a URL's host as the egress guard will at call time (one matcher:
runtime/egress/hosts.AllowList), IDNA names and wildcards included."""

from __future__ import annotations

import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from proofpix_plugins.runtime.egress.fetch import EgressDenied, HttpPolicy, fetch
from proofpix_plugins.scanning import scan_package
from proofpix_plugins.scanning.checks.permissions import allow_list, host_allowed
from tests.packages.builders import HANDLER_SOURCE, Raw, make_ppx, manifest

ALLOW = ["xn--bcher-kva.example", "*.example.com"]

#: URL -> whether ctx.http may reach its host under ALLOW.
URLS = {
    "https://bücher.example/": True,  # IDNA: the U-label of a listed A-label
    "https://BÜCHER.example./x": True,  # case and a trailing dot do not matter
    "https://xn--bcher-kva.example/": True,
    "https://bucher.example/": False,
    "https://api.example.com/v1": True,  # the wildcard covers subdomains
    "https://API.Example.COM./v1": True,
    "https://a.b.example.com/": True,
    "https://ünï.example.com/": True,  # an IDNA subdomain under the wildcard
    "https://example.com/": False,  # but not the apex
    "https://api.example.com.evil.net/": False,
    "https://evil.example.net/": False,
    "https://127.0.0.1/": False,
}


def test_host_allowed_is_the_guards_matcher() -> None:
    allow = allow_list(ALLOW)
    for url, ok in URLS.items():
        host = urlsplit(url).hostname
        assert host is not None
        assert host_allowed(host, allow) is ok, url


def test_a_host_the_guard_cannot_read_is_not_allowed() -> None:
    allow = allow_list(ALLOW)
    assert not host_allowed("bad_-.example.com", allow)
    assert not host_allowed("x.example.com%2e", allow)


class _RefuseEverything:
    """Resolves every name to loopback, which the guard refuses after the allow-list check."""

    async def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.1"]


async def _runtime_allows(url: str) -> bool:
    policy = HttpPolicy(allow_hosts=tuple(ALLOW))
    with pytest.raises(EgressDenied) as caught:
        await fetch(policy, "GET", url, resolver=_RefuseEverything())
    assert caught.value.rule in {"host-not-allowed", "address-refused"}, caught.value.detail
    return caught.value.rule != "host-not-allowed"


async def test_the_scanner_flags_exactly_the_hosts_the_guard_refuses(tmp_path: Path) -> None:
    body = "URLS = [\n" + "".join(f"    {url!r},\n" for url in URLS) + "]\n"
    source = Raw("plugin/__init__.py", (HANDLER_SOURCE + body).encode(),
                 compress=zipfile.ZIP_STORED)
    package = make_ppx(tmp_path / "p.ppx", with_default_source=False, extra=[source],
                       manifest_data=manifest(permissions=["files", "http"],
                                              network={"allow": ALLOW}))
    report = scan_package(package, platform_version="0.1.0", python_version="3.11.7")
    flagged = {f.message.removesuffix(" is not in network.allow") for f in report.findings
               if f.rule_id == "PPX-PERM-HOST-NOT-ALLOWED"}
    for url, ok in URLS.items():
        assert await _runtime_allows(url) is ok, url
        assert (urlsplit(url).hostname not in flagged) is ok, url
