"""Host canonical form, allow-list semantics and the request checks made before any I/O."""

from __future__ import annotations

import ssl

import pytest

from proofpix_plugins.errors import ValidationFailed
from proofpix_plugins.runtime.egress.fetch import EgressDenied, HttpPolicy, fetch
from proofpix_plugins.runtime.egress.hosts import AllowList, HostSyntaxError, canonical_host


class NoDNS:
    """A resolver that must never be asked: the request is refused before resolution."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return ["8.8.8.8"]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("under_score.example.com", "under_score.example.com"),
        ("[2001:DB8::0001]", "2001:db8::1"),
        ("2001:db8:0::1", "2001:db8::1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_hosts_compare_in_one_canonical_form(raw: str, canonical: str) -> None:
    assert canonical_host(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "127.1",  # inet_aton shorthand for 127.0.0.1
        "0x7f.1",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0177.0.0.1",  # octal
        "%65vil.com",
        "a..b.com",
        "-lead.example.com",
        "trail-.example.com",
        "sp ace.com",
        "[8.8.8.8]",
        "fe80::1%eth0",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
    ],
)
def test_malformed_or_disguised_hosts_are_refused(raw: str) -> None:
    with pytest.raises(HostSyntaxError):
        canonical_host(raw)


def test_exact_entry_matches_only_that_host() -> None:
    allow = AllowList.parse(["api.example.com"])
    assert allow.allows("api.example.com")
    assert not allow.allows("example.com")
    assert not allow.allows("x.api.example.com")
    assert not allow.allows("api.example.com.evil.net")
    assert not allow.allows("evilapi.example.com")


def test_wildcard_matches_subdomains_at_any_depth_but_not_the_domain() -> None:
    allow = AllowList.parse(["*.Example.com"])
    assert allow.allows("a.example.com")
    assert allow.allows("a.b.example.com")
    assert not allow.allows("example.com")
    assert not allow.allows("badexample.com")
    assert not allow.allows("example.com.evil.net")


def test_wildcard_never_matches_an_ip_literal() -> None:
    allow = AllowList.parse(["*.example.com", "8.8.8.8"])
    assert allow.allows("8.8.8.8")
    assert not allow.allows("1.1.1.1")


def test_unicode_entry_matches_its_punycode_host() -> None:
    assert AllowList.parse(["*.bücher.example"]).allows("shop.xn--bcher-kva.example")


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("*", "host-pattern"),
        ("*.com", "wildcard-too-broad"),
        ("*.8.8.8.8", "host-pattern"),
        ("a.*.example.com", "host-pattern"),
        ("http://example.com", "host-pattern"),
        ("example.com/path", "host-pattern"),
        ("", "host-pattern"),
        ("127.1", "host-pattern"),
    ],
)
def test_bad_allow_entry_names_the_field_and_rule(entry: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        HttpPolicy(allow_hosts=("ok.example.com", entry))
    (error,) = caught.value.errors
    assert error.field == "network.allow[1]"
    assert error.rule == rule


def test_bad_policy_limits_are_refused_with_their_fields() -> None:
    with pytest.raises(ValidationFailed) as caught:
        HttpPolicy(
            allow_hosts=(),
            timeout_s=0,
            max_response_bytes=-1,
            max_redirects=99,
            allowed_schemes=("http", "ftp"),
            allowed_ports=(0,),
        )
    fields = {e.field for e in caught.value.errors}
    assert fields == {
        "timeout_s",
        "max_response_bytes",
        "max_redirects",
        "allowed_schemes",
        "allowed_ports",
    }


def test_allow_hosts_given_as_a_bare_string_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        HttpPolicy(allow_hosts="api.example.com")  # type: ignore[arg-type]
    assert caught.value.errors[0].field == "allow_hosts"


def test_policy_refuses_a_tls_context_that_does_not_verify() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    with pytest.raises(ValidationFailed) as caught:
        HttpPolicy(allow_hosts=("api.example.com",), ssl_context=context)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("ssl_context", "tls")]


async def _denied(url: str, policy: HttpPolicy | None = None, **kwargs: object) -> EgressDenied:
    dns = NoDNS()
    with pytest.raises(EgressDenied) as caught:
        await fetch(
            policy or HttpPolicy(allow_hosts=("api.example.com", "*.example.org")),
            str(kwargs.pop("method", "GET")),
            url,
            resolver=dns,
            **kwargs,  # type: ignore[arg-type]
        )
    assert dns.calls == 0
    return caught.value


async def test_host_not_in_allow_list_is_refused_before_resolution() -> None:
    error = await _denied("https://evil.example.net/")
    assert error.rule == "host-not-allowed"
    assert error.errors[0].field == "url"


async def test_bare_domain_of_a_wildcard_is_refused() -> None:
    assert (await _denied("https://example.org/")).rule == "host-not-allowed"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@api.example.com/",
        "https://user@api.example.com/",
        "https://:pass@api.example.com/",
    ],
)
async def test_userinfo_in_url_is_refused(url: str) -> None:
    assert (await _denied(url)).rule == "userinfo-not-allowed"


async def test_allowed_host_behind_userinfo_trick_is_judged_by_the_real_host() -> None:
    # The classic parser-confusion URL: the real host is evil.example.net.
    error = await _denied("https://api.example.com@evil.example.net/")
    assert error.rule in {"userinfo-not-allowed", "host-not-allowed"}


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.example.com/",
        "file:///etc/passwd",
        "gopher://api.example.com/",
        "javascript:alert(1)",
        "ws://api.example.com/",
        "//api.example.com/",
        "api.example.com/x",
    ],
)
async def test_non_http_scheme_is_refused(url: str) -> None:
    assert (await _denied(url)).rule == "scheme-not-allowed"


async def test_scheme_outside_the_policy_is_refused() -> None:
    policy = HttpPolicy(allow_hosts=("api.example.com",), allowed_schemes=("https",))
    assert (await _denied("http://api.example.com/", policy)).rule == "scheme-not-allowed"


@pytest.mark.parametrize("url", ["http://api.example.com:0/", "http://api.example.com:99999/"])
async def test_port_outside_tcp_range_is_refused(url: str) -> None:
    assert (await _denied(url)).rule == "port-not-allowed"


async def test_port_outside_allowed_ports_is_refused() -> None:
    policy = HttpPolicy(allow_hosts=("api.example.com",), allowed_ports=(443,))
    assert (await _denied("https://api.example.com:8443/", policy)).rule == "port-not-allowed"


@pytest.mark.parametrize(
    "url",
    ["http://api.example.com/\r\nX: y", "http://127.1/", "http://0x7f.1/", "http://2130706433/"],
)
async def test_malformed_url_is_refused(url: str) -> None:
    assert (await _denied(url)).rule == "url-invalid"


async def test_overlong_url_is_refused() -> None:
    assert (await _denied("https://api.example.com/" + "a" * 9000)).rule == "url-invalid"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Test": "a\r\nHost: evil.example.net"},
        {"X-Test": "a\nInjected: 1"},
        {"X-Test": "a\rb"},
        {"X-Test": "a\x00b"},
        {"X-Test": "caf\u00e9"},
        {"X-Test\r\nInjected": "1"},
        {"X Test": "1"},
        {"X-Test:": "1"},
        {"": "1"},
    ],
)
async def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    error = await _denied("https://api.example.com/", headers=headers)
    assert error.rule == "header-invalid"
    assert error.errors[0].field.startswith("headers")


async def test_too_many_headers_are_refused() -> None:
    headers = {f"X-H{i}": "v" for i in range(65)}
    assert (await _denied("https://api.example.com/", headers=headers)).rule == "headers-too-large"


@pytest.mark.parametrize("method", ["CONNECT", "TRACE", "GET /x HTTP/1.1\r\n", "", "BREW"])
async def test_method_outside_the_list_is_refused(method: str) -> None:
    error = await _denied("https://api.example.com/", method=method)
    assert error.rule == "method-not-allowed"
    assert error.errors[0].field == "method"


async def test_request_body_over_the_cap_is_refused() -> None:
    policy = HttpPolicy(allow_hosts=("api.example.com",), max_request_bytes=10)
    error = await _denied("https://api.example.com/", policy, method="POST", body=b"x" * 11)
    assert error.rule == "request-too-large"
    assert error.errors[0].field == "body"
