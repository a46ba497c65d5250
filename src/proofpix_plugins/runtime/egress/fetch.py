"""The host-side egress guard behind the sandbox's ``http`` capability: the only way out.

A sandboxed plugin has no network at all; when it asks for HTTP, the broker calls :func:`fetch`
in the host process, which enforces, for the request and for every redirect hop:

* the URL: ``http``/``https`` only (``HttpPolicy.allowed_schemes``), no userinfo, a port in
  1-65535 (and in ``allowed_ports`` when set), a host that is a well-formed DNS name or an IP
  literal, listed in the manifest's ``network.allow`` (exact, or ``*.domain`` for subdomains
  only; IP literals only when listed literally);
* the address: the HOST resolves the name itself (through a :class:`Resolver`) and refuses the
  request if ANY answer is refused (loopback, private, link-local, CGNAT, multicast, reserved,
  documentation, benchmarking, cloud metadata, and IPv6 forms embedding such an IPv4; see
  ``address.py``). Refusing the whole answer rather than picking the good records is
  deliberate: a public name that also answers a private address is either misconfigured or an
  attack, and connecting to "the good half" would make the outcome depend on record order;
* pinning: it connects to the checked address itself (the IP is put in the request URL; the
  ``Host`` header and the TLS SNI and certificate check keep the original name, via httpcore's
  ``sni_hostname`` extension). The name is never resolved a second time, so DNS rebinding
  cannot swap the target between check and connect. A fresh connection per hop, never pooled,
  so a TLS session verified for one name is never reused for another;
* redirects are followed by hand (``max_redirects``), each hop checked as above; an https to
  http downgrade is refused; ``Authorization`` and ``Cookie`` are dropped when the origin
  changes; 303 (and 301/302 after POST) become a bodiless GET as browsers do;
* limits: one deadline over the whole call, DNS and every hop included (``timeout_s``), so a
  server trickling one byte a second cannot hold a call open; the request body is capped
  (``max_request_bytes``); the response is read as a stream and abandoned at
  ``max_response_bytes`` (a larger ``Content-Length`` is refused before reading anything);
* headers: names must be tokens and values printable ASCII (CR/LF/NUL and other controls are
  refused, so no header injection); hop-by-hop and transport headers (``Host``,
  ``Connection``, ``Proxy-*``, ``Transfer-Encoding``, ``Content-Length``, ``TE``, ``Upgrade``,
  ``Expect`` …) are silently dropped because the guard owns them;
* the host never decompresses: it asks for ``identity`` unless the plugin asked otherwise and
  returns the bytes as received, so a compression bomb inflates, if at all, inside the sandbox;
* environment proxies, ``.netrc`` and ``SSL_CERT_*`` variables are ignored (``trust_env=False``).

Errors: :class:`EgressDenied` (403, policy: nothing was sent, or a redirect was not followed)
and :class:`EgressFailed` (502, the outside world failed), each with a stable ``rule``.

Longer than our ~400-line norm on purpose: it is one request pipeline whose steps run again for
every redirect hop, and it reads best in one place. Its parts with a life of their own are
``address.py`` (which addresses are refused), ``hosts.py`` (host syntax, the allow list) and
``errors.py``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

import httpx

from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.runtime.egress.address import IPAddress, parse_address, refusal_reason
from proofpix_plugins.runtime.egress.errors import EgressDenied, EgressFailed
from proofpix_plugins.runtime.egress.hosts import AllowList, HostSyntaxError, canonical_host

__all__ = [
    "EgressDenied",
    "EgressFailed",
    "HttpPolicy",
    "HttpResponse",
    "Resolver",
    "SystemResolver",
    "fetch",
]

MiB: Final = 1024 * 1024

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VALUE: Final = re.compile(r"^[\t\x20-\x7e]*$")
_DROPPED_HEADERS: Final = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "expect",
        "http2-settings",
    }
)
_CROSS_ORIGIN_DROPPED: Final = frozenset({"authorization", "cookie"})
_MAX_URL: Final = 8192
_MAX_HEADERS: Final = 64
_MAX_HEADER_BYTES: Final = 32 * 1024
_MAX_ADDRESSES: Final = 16
_USER_AGENT: Final = "ProofPix-Plugin-Egress/1"


class Resolver(Protocol):
    """Turns a host name into the IP addresses the guard will check and connect to."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), run off the event loop."""

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class HttpPolicy:
    """What one plugin's ``http`` capability may reach, and how much it may move."""

    allow_hosts: tuple[str, ...]
    #: TEST-ONLY: host names (canonical form) that may resolve to loopback, so tests can reach
    #: a server on 127.0.0.1. Never set from a manifest; other refused ranges stay refused.
    test_allow_loopback: tuple[str, ...] = ()
    timeout_s: float = 10.0
    max_response_bytes: int = 10 * MiB
    max_request_bytes: int = 5 * MiB
    max_redirects: int = 5
    allowed_schemes: tuple[str, ...] = ("http", "https")
    #: ``None`` allows any port: the allow list and the address check are the boundary.
    allowed_ports: tuple[int, ...] | None = None
    #: Trust anchors for https; ``None`` is certifi's bundle. For enterprise CAs and tests.
    ssl_context: ssl.SSLContext | None = None
    _allow: AllowList = field(init=False, repr=False, compare=False)
    _loopback_ok: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        for name in ("allow_hosts", "test_allow_loopback"):
            if isinstance(getattr(self, name), str):
                # A bare string would iterate as characters and allow nothing, or "*".
                raise ValidationFailed(
                    "invalid http policy", errors=(FieldError(name, "must be a tuple", "type"),)
                )
        if not 0 < self.timeout_s <= 600:
            errors.append(FieldError("timeout_s", "must be in (0, 600] seconds", "range"))
        for name in ("max_response_bytes", "max_request_bytes"):
            if getattr(self, name) < 0:
                errors.append(FieldError(name, "must not be negative", "range"))
        if not 0 <= self.max_redirects <= 20:
            errors.append(FieldError("max_redirects", "must be in [0, 20]", "range"))
        if not set(self.allowed_schemes) <= {"http", "https"}:
            errors.append(
                FieldError("allowed_schemes", "only http and https are supported", "scheme")
            )
        if self.allowed_ports is not None and not all(0 < p < 65536 for p in self.allowed_ports):
            errors.append(FieldError("allowed_ports", "ports are 1-65535", "range"))
        if self.ssl_context is not None and not (
            self.ssl_context.check_hostname and self.ssl_context.verify_mode == ssl.CERT_REQUIRED
        ):
            # A custom context may add trust anchors, never switch verification off.
            errors.append(
                FieldError("ssl_context", "must verify certificates and host names", "tls")
            )
        loopback_ok: set[str] = set()
        for index, name in enumerate(self.test_allow_loopback):
            try:
                loopback_ok.add(canonical_host(name))
            except HostSyntaxError as exc:
                errors.append(FieldError(f"test_allow_loopback[{index}]", str(exc), "host"))
        if errors:
            raise ValidationFailed("invalid http policy", errors=tuple(errors))
        object.__setattr__(self, "_allow", AllowList.parse(self.allow_hosts))
        object.__setattr__(self, "_loopback_ok", frozenset(loopback_ok))


@dataclass(frozen=True)
class HttpResponse:
    """The final (non-redirect) response; ``url`` is the last hop's URL, with its host name."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str


@dataclass(frozen=True, slots=True)
class _Target:
    url: httpx.URL
    host: str
    port: int


async def fetch(
    policy: HttpPolicy,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    resolver: Resolver | None = None,
) -> HttpResponse:
    """Send one HTTP request for a plugin under ``policy``; see the module docstring."""
    verb = _check_method(method)
    clean = _check_headers(headers)
    if body is not None and not isinstance(body, bytes):
        raise EgressDenied.of("body-invalid", "the request body must be bytes", "body")
    if body is not None and len(body) > policy.max_request_bytes:
        raise EgressDenied.of(
            "request-too-large",
            f"the request body exceeds {policy.max_request_bytes} bytes",
            "body",
        )
    target = _check_url(policy, url)
    try:
        async with asyncio.timeout(policy.timeout_s):
            return await _follow(policy, verb, target, clean, body, resolver or SystemResolver())
    except TimeoutError:
        raise EgressFailed.of(
            "timeout", f"the request did not complete within {policy.timeout_s} s"
        ) from None


async def _follow(
    policy: HttpPolicy,
    method: str,
    target: _Target,
    headers: dict[str, str],
    body: bytes | None,
    resolver: Resolver,
) -> HttpResponse:
    redirects = 0
    while True:
        try:
            addresses = await _resolve_checked(policy, target, resolver)
        except EgressDenied as exc:
            raise _as_redirect_refusal(exc) if redirects else exc from None
        outcome = await _send(policy, target, addresses, method, headers, body)
        if isinstance(outcome, HttpResponse):
            return outcome
        if redirects >= policy.max_redirects:
            raise EgressDenied.of(
                "too-many-redirects", f"more than {policy.max_redirects} redirects"
            )
        redirects += 1
        previous = target
        try:
            target = _check_url(policy, _join(previous.url, outcome.location))
            if previous.url.scheme == "https" and target.url.scheme != "https":
                raise EgressDenied.of("scheme-downgrade", "redirect from https to http")
        except EgressDenied as exc:
            raise _as_redirect_refusal(exc) from None
        if _origin(target) != _origin(previous):
            headers = {k: v for k, v in headers.items() if k not in _CROSS_ORIGIN_DROPPED}
        if outcome.status_changes_method(method):
            method = "HEAD" if method == "HEAD" else "GET"
            body = None
            headers.pop("content-type", None)


def _as_redirect_refusal(exc: EgressDenied) -> EgressDenied:
    """A refused hop after a redirect keeps its specific rule in ``errors``."""
    return EgressDenied(
        detail=f"redirect refused: {exc.detail}",
        errors=(FieldError("location", exc.detail, exc.rule),),
        rule="redirect-refused",
    )


def _join(base: httpx.URL, location: str) -> str:
    try:
        return str(base.join(location))
    except (httpx.InvalidURL, ValueError):
        raise EgressDenied.of("url-invalid", "the redirect location is not a valid URL") from None


def _origin(target: _Target) -> tuple[str, str, int]:
    return (target.url.scheme, target.host, target.port)


def _check_method(method: object) -> str:
    verb = method.upper() if isinstance(method, str) else ""
    if verb not in _METHODS:
        raise EgressDenied.of(
            "method-not-allowed",
            f"method must be one of {', '.join(sorted(_METHODS))}",
            "method",
        )
    return verb


def _check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Validated request headers, lower-cased, with the ones the guard owns removed."""
    clean: dict[str, str] = {"accept-encoding": "identity", "user-agent": _USER_AGENT}
    if headers is None:
        return clean
    if len(headers) > _MAX_HEADERS:
        raise EgressDenied.of("headers-too-large", f"at most {_MAX_HEADERS} headers", "headers")
    total = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise EgressDenied.of(
                "header-invalid", "a header name must be an HTTP token", "headers"
            )
        if not isinstance(value, str) or not _VALUE.match(value):
            raise EgressDenied.of(
                "header-invalid",
                "a header value must be printable ASCII (no CR, LF or other controls)",
                f"headers.{name}",
            )
        total += len(name) + len(value)
        lowered = name.lower()
        if lowered in _DROPPED_HEADERS or lowered.startswith("proxy-"):
            continue
        clean[lowered] = value
    if total > _MAX_HEADER_BYTES:
        raise EgressDenied.of(
            "headers-too-large", f"headers exceed {_MAX_HEADER_BYTES} bytes", "headers"
        )
    return clean


def _check_url(policy: HttpPolicy, url: object) -> _Target:
    """Parse once and judge the parsed form: what is checked is exactly what is requested."""
    if not isinstance(url, str) or len(url) > _MAX_URL:
        raise EgressDenied.of("url-invalid", f"the URL must be a string of at most {_MAX_URL}")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise EgressDenied.of("url-invalid", "the URL cannot be parsed") from None
    if parsed.scheme not in policy.allowed_schemes:
        raise EgressDenied.of(
            "scheme-not-allowed",
            f"scheme {parsed.scheme!r} is not one of {', '.join(policy.allowed_schemes)}",
        )
    if parsed.userinfo:
        raise EgressDenied.of("userinfo-not-allowed", "credentials in the URL are not allowed")
    try:
        host = canonical_host(parsed.raw_host.decode("ascii"))
    except (HostSyntaxError, UnicodeDecodeError) as exc:
        raise EgressDenied.of("url-invalid", f"invalid host: {exc}") from None
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536 or (
        policy.allowed_ports is not None and port not in policy.allowed_ports
    ):
        raise EgressDenied.of("port-not-allowed", f"port {port} is not allowed")
    if not policy._allow.allows(host):
        raise EgressDenied.of("host-not-allowed", f"host {host!r} is not in network.allow")
    return _Target(parsed.copy_with(fragment=None), host, port)


async def _resolve_checked(
    policy: HttpPolicy, target: _Target, resolver: Resolver
) -> list[IPAddress]:
    """Resolve once; every answer must pass, and these exact addresses are what we dial."""
    literal = parse_address(target.host)
    if literal is not None:
        answers: list[str] = [target.host]
    else:
        try:
            answers = list(await resolver.resolve(target.host, target.port))
        except (OSError, UnicodeError):
            raise EgressFailed.of(
                "dns-failed", f"host {target.host!r} could not be resolved"
            ) from None
    addresses: list[IPAddress] = []
    for answer in answers:
        address = parse_address(answer) if isinstance(answer, str) else None
        if address is None:
            raise EgressFailed.of("dns-failed", f"host {target.host!r} resolved to a non-address")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise EgressFailed.of("dns-failed", f"host {target.host!r} has no addresses")
    loopback_ok = target.host in policy._loopback_ok
    for address in addresses:
        reason = refusal_reason(address, allow_loopback=loopback_ok)
        if reason is not None:
            # The address itself is not echoed: plugins must not map internal DNS through us.
            raise EgressDenied.of(
                "address-refused", f"host {target.host!r} resolves to a refused address ({reason})"
            )
    return addresses[:_MAX_ADDRESSES]


async def _send(
    policy: HttpPolicy,
    target: _Target,
    addresses: list[IPAddress],
    method: str,
    headers: dict[str, str],
    body: bytes | None,
) -> HttpResponse | _RedirectOutcome:
    """Dial the checked addresses in order until one connects; one request, no pooling."""
    last_error = "no address could be reached"
    for address in addresses:
        transport = httpx.AsyncHTTPTransport(
            verify=policy.ssl_context or _default_ssl_context(),
            trust_env=False,
            retries=0,
        )
        try:
            return await _exchange(policy, transport, target, address, method, headers, body)
        except httpx.ConnectError as exc:
            if _is_certificate_error(exc):
                raise EgressFailed.of(
                    "tls-failed", f"TLS verification of {target.host!r} failed"
                ) from None
            last_error = f"could not connect to {target.host!r}"
        except httpx.TimeoutException:
            raise EgressFailed.of(
                "timeout", f"the request did not complete within {policy.timeout_s} s"
            ) from None
        except httpx.TransportError:
            raise EgressFailed.of(
                "connection-failed", f"the connection to {target.host!r} failed"
            ) from None
        finally:
            await transport.aclose()
    raise EgressFailed.of("connect-failed", last_error)


@dataclass(frozen=True, slots=True)
class _RedirectOutcome:
    status: int
    location: str

    def status_changes_method(self, method: str) -> bool:
        return self.status == 303 or (self.status in (301, 302) and method == "POST")


async def _exchange(
    policy: HttpPolicy,
    transport: httpx.AsyncHTTPTransport,
    target: _Target,
    address: IPAddress,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
) -> HttpResponse | _RedirectOutcome:
    pinned = target.url.copy_with(host=address.compressed)
    request = httpx.Request(
        method,
        pinned,
        headers={**headers, "host": target.url.netloc.decode("ascii")},
        content=body,
        extensions={
            "sni_hostname": target.host,
            "timeout": {k: policy.timeout_s for k in ("connect", "read", "write", "pool")},
        },
    )
    response = await transport.handle_async_request(request)
    try:
        location = response.headers.get("location")
        if response.status_code in _REDIRECTS and location:
            return _RedirectOutcome(response.status_code, location)
        declared = response.headers.get("content-length")
        if (
            # HEAD, 204 and 304 declare a length they never send.
            method != "HEAD"
            and response.status_code not in (204, 304)
            and declared is not None
            and declared.isdigit()
            and int(declared) > policy.max_response_bytes
        ):
            raise _too_large(policy)
        received = bytearray()
        async for chunk in response.aiter_raw():
            if len(received) + len(chunk) > policy.max_response_bytes:
                raise _too_large(policy)
            received += chunk
        return HttpResponse(
            status=response.status_code,
            headers=_flatten(response.headers),
            body=bytes(received),
            url=str(target.url),
        )
    finally:
        await response.aclose()


def _too_large(policy: HttpPolicy) -> EgressFailed:
    return EgressFailed.of(
        "response-too-large", f"the response exceeds {policy.max_response_bytes} bytes"
    )


def _flatten(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Built once: loading certifi's bundle costs milliseconds, and the context is read-only here.
    return httpx.create_ssl_context(trust_env=False)
