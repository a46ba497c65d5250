"""fetch() against real HTTP(S) servers on loopback, with only DNS answers faked."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proofpix_plugins.runtime.egress.fetch import (
    EgressDenied,
    EgressFailed,
    HttpPolicy,
    HttpResponse,
    SystemResolver,
    fetch,
)


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    """A minimal HTTP/1.1 server on a loopback address that records what reaches it."""

    handler: Handler
    host: str = "127.0.0.1"
    port: int = 0
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Handlers that still stall (slow-server tests) end with the test, not with the loop.
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            seen = Seen(method, target, headers, body)
            self.seen.append(seen)
            await self.handler(seen, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()


def reply(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    async def handle(seen: Seen, writer: asyncio.StreamWriter) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body
        )
        await writer.drain()

    return handle


class DNS:
    """Fake DNS: per name, a list of answers, one per question (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def loop_dns(*names: str) -> DNS:
    return DNS({name: [["127.0.0.1"]] for name in names})


def policy(*hosts: str, **kwargs: object) -> HttpPolicy:
    return HttpPolicy(allow_hosts=hosts, test_allow_loopback=hosts, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def servers() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    started: list[Server] = []

    async def start(handler: Handler, **kwargs: object) -> Server:
        server = await Server(handler, **kwargs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


ServerFactory = Callable[..., Awaitable[Server]]


async def test_allowed_host_get_reaches_the_server_with_the_original_host_header(
    servers: ServerFactory,
) -> None:
    server = await servers(reply(200, b'{"ok": true}', {"Content-Type": "application/json"}))
    response = await fetch(
        policy("api.test"),
        "GET",
        f"http://api.test:{server.port}/v1/items?q=1#frag",
        resolver=loop_dns("api.test"),
    )
    assert response == HttpResponse(
        status=200,
        headers={"content-length": "12", "content-type": "application/json"},
        body=b'{"ok": true}',
        url=f"http://api.test:{server.port}/v1/items?q=1",
    )
    (seen,) = server.seen
    assert (seen.method, seen.target) == ("GET", "/v1/items?q=1")
    assert seen.headers["host"] == f"api.test:{server.port}"


async def test_post_with_json_body_arrives_intact(servers: ServerFactory) -> None:
    async def echo(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await reply(201, seen.body, {"Content-Type": seen.headers["content-type"]})(seen, writer)

    server = await servers(echo)
    payload = b'{"n": 3, "text": "caf\xc3\xa9"}'
    response = await fetch(
        policy("hooks.test"),
        "POST",
        f"http://hooks.test:{server.port}/hook",
        headers={"Content-Type": "application/json", "Authorization": "Bearer t0k"},
        body=payload,
        resolver=loop_dns("hooks.test"),
    )
    assert response.status == 201
    assert response.body == payload
    (seen,) = server.seen
    assert seen.body == payload
    assert seen.headers["content-length"] == str(len(payload))
    assert seen.headers["authorization"] == "Bearer t0k"


async def test_head_returns_no_body_whatever_length_it_declares(servers: ServerFactory) -> None:
    async def head(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
        await writer.drain()

    server = await servers(head)
    response = await fetch(
        policy("api.test", max_response_bytes=1000),
        "HEAD",
        f"http://api.test:{server.port}/",
        resolver=loop_dns("api.test"),
    )
    assert (response.status, response.body) == (200, b"")
    assert response.headers["content-length"] == "104857600"


async def test_headers_the_guard_owns_are_replaced_not_forwarded(servers: ServerFactory) -> None:
    server = await servers(reply(204))
    await fetch(
        policy("api.test"),
        "POST",
        f"http://api.test:{server.port}/",
        headers={
            "Host": "internal.corp",
            "Connection": "Upgrade",
            "Upgrade": "h2c",
            "Proxy-Authorization": "Basic eA==",
            "Transfer-Encoding": "chunked",
            "Content-Length": "999",
            "X-Kept": "yes",
        },
        body=b"abc",
        resolver=loop_dns("api.test"),
    )
    (seen,) = server.seen
    assert seen.headers["host"] == f"api.test:{server.port}"
    assert seen.headers["content-length"] == "3"
    assert seen.body == b"abc"
    assert seen.headers["x-kept"] == "yes"
    for gone in ("proxy-authorization", "transfer-encoding", "upgrade"):
        assert gone not in seen.headers
    assert seen.headers.get("connection", "") != "Upgrade"


async def test_wildcard_entry_reaches_a_subdomain(servers: ServerFactory) -> None:
    server = await servers(reply(200, b"sub"))
    response = await fetch(
        HttpPolicy(allow_hosts=("*.svc.test",), test_allow_loopback=("a.b.svc.test",)),
        "GET",
        f"http://a.b.svc.test:{server.port}/",
        resolver=loop_dns("a.b.svc.test"),
    )
    assert response.body == b"sub"


async def test_host_not_in_allow_list_never_reaches_the_server(servers: ServerFactory) -> None:
    server = await servers(reply(200))
    dns = loop_dns("other.test")
    with pytest.raises(EgressDenied) as caught:
        await fetch(policy("api.test"), "GET", f"http://other.test:{server.port}/", resolver=dns)
    assert caught.value.rule == "host-not-allowed"
    assert server.seen == []
    assert dns.asked == []


async def test_loopback_is_refused_without_the_test_switch(servers: ServerFactory) -> None:
    server = await servers(reply(200))
    with pytest.raises(EgressDenied) as caught:
        await fetch(
            HttpPolicy(allow_hosts=("api.test",)),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=loop_dns("api.test"),
        )
    assert caught.value.rule == "address-refused"
    assert server.seen == []


async def test_localhost_through_the_system_resolver_is_refused(servers: ServerFactory) -> None:
    server = await servers(reply(200))
    with pytest.raises(EgressDenied) as caught:
        await fetch(
            HttpPolicy(allow_hosts=("localhost",)),
            "GET",
            f"http://localhost:{server.port}/",
            resolver=SystemResolver(),
        )
    assert caught.value.rule == "address-refused"
    assert server.seen == []


async def test_system_resolver_answer_is_dialled_when_allowed(servers: ServerFactory) -> None:
    # localhost may answer ::1 first; the guard then falls back to the next checked address.
    server = await servers(reply(200, b"hi"))
    response = await fetch(policy("localhost"), "GET", f"http://localhost:{server.port}/")
    assert response.body == b"hi"


async def test_dns_rebinding_cannot_move_the_connection(servers: ServerFactory) -> None:
    first = await servers(reply(200, b"first"), host="127.0.0.1")
    second = await servers(reply(200, b"second"), host="127.0.0.2", port=first.port)
    dns = DNS({"api.test": [["127.0.0.1"], ["127.0.0.2"]]})
    response = await fetch(
        policy("api.test"), "GET", f"http://api.test:{first.port}/", resolver=dns
    )
    assert response.body == b"first"
    assert len(first.seen) == 1
    assert second.seen == []
    assert dns.asked == ["api.test"]


async def test_ipv6_answer_is_dialled_at_that_address(servers: ServerFactory) -> None:
    server = await servers(reply(200, b"six"), host="::1")
    response = await fetch(
        policy("api.test"),
        "GET",
        f"http://api.test:{server.port}/",
        resolver=DNS({"api.test": [["::1"]]}),
    )
    assert response.body == b"six"
    assert server.seen[0].headers["host"] == f"api.test:{server.port}"


async def test_unreachable_first_answer_falls_back_to_the_next_checked_one(
    servers: ServerFactory,
) -> None:
    server = await servers(reply(200, b"second"), host="127.0.0.1")
    dns = DNS({"api.test": [["::1", "127.0.0.1"]]})  # nothing listens on ::1 at that port
    response = await fetch(
        policy("api.test"), "GET", f"http://api.test:{server.port}/", resolver=dns
    )
    assert response.body == b"second"
    assert dns.asked == ["api.test"]


async def test_rebinding_to_loopback_after_a_public_answer_never_reaches_loopback(
    servers: ServerFactory,
) -> None:
    server = await servers(reply(200))
    # The first, accepted answer stands in for a public address (the test switch accepts it for
    # this name; nothing listens there), so no traffic ever leaves this machine. The second
    # answer is where the secret server listens: only a second lookup could reach it.
    dns = DNS({"api.test": [["127.0.0.3"], ["127.0.0.1"]]})
    with pytest.raises(EgressFailed):
        await fetch(
            HttpPolicy(allow_hosts=("api.test",), test_allow_loopback=("api.test",),
                       timeout_s=1.0),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=dns,
        )
    assert server.seen == []
    assert dns.asked == ["api.test"]


async def test_redirects_are_followed_and_rechecked_each_hop(servers: ServerFactory) -> None:
    final = await servers(reply(200, b"done"))
    start = await servers(reply(302, headers={"Location": f"http://cdn.test:{final.port}/final"}))
    dns = DNS({"api.test": [["127.0.0.1"]], "cdn.test": [["127.0.0.1"]]})
    response = await fetch(
        policy("api.test", "cdn.test"),
        "GET",
        f"http://api.test:{start.port}/start",
        headers={"Authorization": "Bearer secret", "X-Trace": "1"},
        resolver=dns,
    )
    assert response.body == b"done"
    assert response.url == f"http://cdn.test:{final.port}/final"
    assert dns.asked == ["api.test", "cdn.test"]
    (seen,) = final.seen
    assert seen.headers["host"] == f"cdn.test:{final.port}"
    # Credentials never follow a redirect to another origin; other headers do.
    assert "authorization" not in seen.headers
    assert seen.headers["x-trace"] == "1"


async def test_303_after_post_becomes_a_get_without_body(servers: ServerFactory) -> None:
    async def see_other(seen: Seen, writer: asyncio.StreamWriter) -> None:
        if seen.target == "/submit":
            await reply(303, headers={"Location": "/result"})(seen, writer)
        else:
            await reply(200, b"result")(seen, writer)

    server = await servers(see_other)
    response = await fetch(
        policy("api.test"),
        "POST",
        f"http://api.test:{server.port}/submit",
        body=b"data",
        resolver=loop_dns("api.test"),
    )
    assert response.body == b"result"
    assert [(s.method, s.target, s.body) for s in server.seen] == [
        ("POST", "/submit", b"data"),
        ("GET", "/result", b""),
    ]


async def test_307_keeps_method_and_body(servers: ServerFactory) -> None:
    async def temporary(seen: Seen, writer: asyncio.StreamWriter) -> None:
        if seen.target == "/a":
            await reply(307, headers={"Location": "/b"})(seen, writer)
        else:
            await reply(200, seen.body)(seen, writer)

    server = await servers(temporary)
    response = await fetch(
        policy("api.test"),
        "PUT",
        f"http://api.test:{server.port}/a",
        body=b"keep",
        resolver=loop_dns("api.test"),
    )
    assert response.body == b"keep"
    assert [s.method for s in server.seen] == ["PUT", "PUT"]


@pytest.mark.parametrize(
    ("location", "inner_rule"),
    [
        ("http://internal.test/", "address-refused"),  # allowed name, private answer
        ("http://metadata.test/latest/meta-data/", "address-refused"),
        ("http://169.254.169.254/latest/meta-data/", "host-not-allowed"),
        ("http://127.0.0.1:1/", "host-not-allowed"),
        ("http://elsewhere.test/", "host-not-allowed"),
        ("http://user:pw@api.test/", "userinfo-not-allowed"),
        ("file:///etc/passwd", "scheme-not-allowed"),
        ("http://127.1/", "url-invalid"),
    ],
)
async def test_redirect_to_a_refused_target_is_not_followed(
    servers: ServerFactory, location: str, inner_rule: str
) -> None:
    server = await servers(reply(302, headers={"Location": location}))
    dns = DNS(
        {
            "api.test": [["127.0.0.1"]],
            "internal.test": [["10.1.2.3"]],
            "metadata.test": [["169.254.169.254"]],
        }
    )
    with pytest.raises(EgressDenied) as caught:
        await fetch(
            HttpPolicy(
                allow_hosts=("api.test", "internal.test", "metadata.test"),
                test_allow_loopback=("api.test",),
            ),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=dns,
        )
    assert caught.value.rule == "redirect-refused"
    assert caught.value.errors[0].field == "location"
    assert caught.value.errors[0].rule == inner_rule
    assert len(server.seen) == 1


async def test_redirect_chain_over_the_limit_is_refused(servers: ServerFactory) -> None:
    async def loop(seen: Seen, writer: asyncio.StreamWriter) -> None:
        hop = int(seen.target.strip("/") or 0)
        await reply(302, headers={"Location": f"/{hop + 1}"})(seen, writer)

    server = await servers(loop)
    with pytest.raises(EgressDenied) as caught:
        await fetch(
            policy("api.test", max_redirects=3),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=loop_dns("api.test"),
        )
    assert caught.value.rule == "too-many-redirects"
    # The original request plus exactly three followed redirects.
    assert [s.target for s in server.seen] == ["/", "/1", "/2", "/3"]


async def test_response_over_the_cap_is_abandoned_without_reading_it_all(
    servers: ServerFactory,
) -> None:
    total = 64 * 1024 * 1024
    sent = [0]
    finished = asyncio.Event()

    async def flood(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        try:
            while sent[0] < total:
                writer.write(framed)
                await writer.drain()
                sent[0] += len(chunk)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            finished.set()

    server = await servers(flood)
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            policy("api.test", max_response_bytes=1024 * 1024),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=loop_dns("api.test"),
        )
    assert caught.value.rule == "response-too-large"
    await asyncio.wait_for(finished.wait(), 5)
    # Socket buffers absorb a few MiB at most; the 64 MiB body was never pulled through.
    assert sent[0] < 16 * 1024 * 1024


async def test_declared_oversize_response_is_refused_before_reading(
    servers: ServerFactory,
) -> None:
    async def declare(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\nxxxx")
        await writer.drain()
        await asyncio.sleep(30)  # would stall a reader that waited for the declared body

    server = await servers(declare)
    began = time.monotonic()
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            policy("api.test", max_response_bytes=1000, timeout_s=10.0),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=loop_dns("api.test"),
        )
    assert caught.value.rule == "response-too-large"
    # The bound is the behaviour: refused from the header, not after waiting for the body (the
    # 10 s deadline would end that). Generous for a loaded machine.
    assert time.monotonic() - began < 5


async def test_slow_server_times_out(servers: ServerFactory) -> None:
    async def stall(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await servers(stall)
    began = time.monotonic()
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            policy("api.test", timeout_s=0.5),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=loop_dns("api.test"),
        )
    assert caught.value.rule == "timeout"
    assert caught.value.status == 502
    # The bound is the behaviour: the 0.5 s deadline, not the server's 30 s stall, ended it.
    # Generous for a loaded machine.
    assert time.monotonic() - began < 10


async def test_trickling_server_is_cut_off_by_the_total_deadline(servers: ServerFactory) -> None:
    async def trickle(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(1000):  # each byte well inside any per-read timeout
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    server = await servers(trickle)
    began = time.monotonic()
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            policy("api.test", timeout_s=0.6),
            "GET",
            f"http://api.test:{server.port}/",
            resolver=loop_dns("api.test"),
        )
    assert caught.value.rule == "timeout"
    # The bound is the behaviour: the 0.6 s total deadline cut off a body that trickles for
    # 50 s. Generous for a loaded machine.
    assert time.monotonic() - began < 10


async def test_slow_dns_counts_against_the_deadline() -> None:
    class SlowDNS:
        async def resolve(self, host: str, port: int) -> list[str]:
            await asyncio.sleep(30)
            return ["8.8.8.8"]

    with pytest.raises(EgressFailed) as caught:
        await fetch(
            HttpPolicy(allow_hosts=("api.test",), timeout_s=0.3),
            "GET",
            "http://api.test/",
            resolver=SlowDNS(),
        )
    assert caught.value.rule == "timeout"


@pytest.mark.parametrize("answer", [[], ["not-an-ip"], ["127.0.0.1 "]])
async def test_unusable_dns_answer_fails_cleanly(answer: list[str]) -> None:
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            policy("api.test"), "GET", "http://api.test/", resolver=DNS({"api.test": [answer]})
        )
    assert caught.value.rule == "dns-failed"


async def test_unresolvable_name_fails_cleanly() -> None:
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            HttpPolicy(allow_hosts=("no-such-host.invalid",)),
            "GET",
            "http://no-such-host.invalid/",
        )
    assert caught.value.rule == "dns-failed"


async def test_refused_connection_fails_cleanly() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            policy("api.test"), "GET", f"http://api.test:{port}/", resolver=loop_dns("api.test")
        )
    assert caught.value.rule == "connect-failed"


async def test_compressed_response_is_returned_as_received(servers: ServerFactory) -> None:
    packed = gzip.compress(b"z" * 100_000)
    server = await servers(reply(200, packed, {"Content-Encoding": "gzip"}))
    response = await fetch(
        policy("api.test", max_response_bytes=50_000),
        "GET",
        f"http://api.test:{server.port}/",
        headers={"Accept-Encoding": "gzip"},
        resolver=loop_dns("api.test"),
    )
    # The host never inflates: the cap applies to the bytes on the wire.
    assert response.body == packed
    assert response.headers["content-encoding"] == "gzip"
    assert server.seen[0].headers["accept-encoding"] == "gzip"


async def test_identity_encoding_is_asked_for_by_default(servers: ServerFactory) -> None:
    server = await servers(reply(200))
    await fetch(
        policy("api.test"), "GET", f"http://api.test:{server.port}/", resolver=loop_dns("api.test")
    )
    assert server.seen[0].headers["accept-encoding"] == "identity"


async def test_environment_proxies_are_ignored(
    servers: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await servers(reply(200, b"proxied"))
    target = await servers(reply(200, b"direct"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    response = await fetch(
        policy("api.test"), "GET", f"http://api.test:{target.port}/", resolver=loop_dns("api.test")
    )
    assert response.body == b"direct"
    assert proxy.seen == []


# --- TLS: the connection goes to the pinned IP, SNI and certificate stay on the host name ---


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@pytest.fixture(scope="module")
def pki() -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "egress test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        # Deliberately no IP address SAN: verification can only pass against the name.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("secure.test")]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Pki(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def server_tls(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory, sni: list[str | None]
) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(pki.cert_pem)
    (folder / "key.pem").write_bytes(pki.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")

    def record(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        sni.append(name)

    context.sni_callback = record
    return context


def client_tls(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=pki.ca_pem.decode("ascii"))


async def test_https_verifies_the_host_name_and_sends_it_as_sni(
    servers: ServerFactory, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sni: list[str | None] = []
    server = await servers(reply(200, b"secure"), tls=server_tls(pki, tmp_path_factory, sni))
    response = await fetch(
        policy("secure.test", ssl_context=client_tls(pki)),
        "GET",
        f"https://secure.test:{server.port}/",
        resolver=loop_dns("secure.test"),
    )
    assert response.body == b"secure"
    assert sni == ["secure.test"]
    assert server.seen[0].headers["host"] == f"secure.test:{server.port}"


async def test_https_to_a_name_the_certificate_does_not_cover_fails(
    servers: ServerFactory, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sni: list[str | None] = []
    server = await servers(reply(200, b"secure"), tls=server_tls(pki, tmp_path_factory, sni))
    with pytest.raises(EgressFailed) as caught:
        await fetch(
            policy("impostor.test", ssl_context=client_tls(pki)),
            "GET",
            f"https://impostor.test:{server.port}/",
            resolver=loop_dns("impostor.test"),
        )
    assert caught.value.rule == "tls-failed"
    assert sni == ["impostor.test"]
    assert server.seen == []


async def test_https_with_an_untrusted_certificate_fails(
    servers: ServerFactory, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = await servers(reply(200), tls=server_tls(pki, tmp_path_factory, []))
    with pytest.raises(EgressFailed) as caught:
        # Default trust anchors (certifi) do not include the test CA.
        await fetch(
            policy("secure.test"),
            "GET",
            f"https://secure.test:{server.port}/",
            resolver=loop_dns("secure.test"),
        )
    assert caught.value.rule == "tls-failed"
    assert server.seen == []


async def test_redirect_from_https_to_http_is_refused(
    servers: ServerFactory, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    plain = await servers(reply(200, b"clear"))
    server = await servers(
        reply(302, headers={"Location": f"http://secure.test:{plain.port}/"}),
        tls=server_tls(pki, tmp_path_factory, []),
    )
    with pytest.raises(EgressDenied) as caught:
        await fetch(
            policy("secure.test", ssl_context=client_tls(pki)),
            "GET",
            f"https://secure.test:{server.port}/",
            resolver=loop_dns("secure.test"),
        )
    assert caught.value.rule == "redirect-refused"
    assert caught.value.errors[0].rule == "scheme-downgrade"
    assert plain.seen == []
