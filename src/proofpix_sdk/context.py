"""``HookContext``: what a handler receives besides its event data.

Every capability is one request to the host over the worker's channel; the host checks the
permission, so nothing here decides what a plugin may do. ``config`` arrives with x-secret
values redacted unless the plugin holds ``secrets``.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from proofpix_sdk.channel import Channel
from proofpix_sdk.errors import CapabilityError
from proofpix_sdk.http import HttpResponse

if TYPE_CHECKING:
    from PIL import Image as PILImage

#: Decompression-bomb guard: Pillow refuses images above this many pixels.
MAX_IMAGE_PIXELS = 64_000_000
#: A derived image larger than this is refused before it is sent.
MAX_DERIVED_BYTES = 32 * 1024 * 1024


class _Namespace:
    """A group of capabilities; each call is one request the host checks and answers."""

    __slots__ = ("_ch",)

    def __init__(self, channel: Channel) -> None:
        """Bind the namespace to the worker's channel (the SDK does this for each call)."""
        self._ch = channel


class Files(_Namespace):
    """The file this hook call is about (needs ``files``)."""

    def read(self) -> bytes:
        """The bytes of the file this hook call is about (the original upload).

        Permission ``files``. Only in hooks about a file (``file:uploaded``,
        ``metadata:extracted``, ``file:process``); elsewhere CapabilityError. At most 50 reads
        per call; uploads are at most 50 MB.
        """
        data = self._ch.request("files.read", {})
        if not isinstance(data, bytes):
            raise CapabilityError("host returned no file bytes")
        return data

    def info(self) -> dict[str, Any]:
        """Basic facts about the call's file: ``sha256``, ``sizeBytes``, ``contentType``,
        ``filename`` (and dimensions when known).

        Permission ``files``; only in hooks about a file; at most 200 per call.
        """
        return dict(self._ch.request("files.info", {}))


class Images(_Namespace):
    """Decode the call's file with Pillow and hand back derived images (needs ``images``)."""

    def open(self) -> PILImage.Image:
        """The call's file decoded by Pillow inside the sandbox, fully loaded.

        Permission ``images`` (the host sends the bytes; Pillow is importable only with it).
        Images above 64 megapixels are refused (CapabilityError, decompression-bomb guard);
        at most 50 per call.
        """
        # Ask first: the host decides (and records) before Pillow is even imported.
        data = self._ch.request("images.open", {})
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(io.BytesIO(data))
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise CapabilityError(f"image refused: {exc}") from None
        return img

    def save_derived(self, img: PILImage.Image, format: str = "JPEG") -> dict[str, Any]:
        """Encode ``img`` as ``format`` and hand it to the host as the file's processed copy.

        Returns ``{"sha256", "sizeBytes", "contentType"}``. Permission ``images``; only in hooks
        about a file. The encoded image must be at most 32 MiB, and the host bounds the derived
        images (bytes and count) per file.
        """
        buf = io.BytesIO()
        img.save(buf, format=format)
        data = buf.getvalue()
        if len(data) > MAX_DERIVED_BYTES:
            raise CapabilityError(f"derived image exceeds {MAX_DERIVED_BYTES} bytes")
        content_type = f"image/{format.lower()}"
        args = {"data": data, "content_type": content_type}
        return dict(self._ch.request("images.save_derived", args))


class Metadata(_Namespace):
    """The host's metadata record for the call's file (needs ``metadata``)."""

    def get(self) -> dict[str, Any]:
        """The file's metadata record: ``exif`` as the host read it, and what plugins wrote.

        Permission ``metadata``; only in hooks about a file; at most 200 per call.
        """
        return dict(self._ch.request("metadata.get", {}))

    def set(self, values: Mapping[str, Any]) -> None:
        """Merge ``values`` (JSON) into this plugin's own namespace of the file's record.

        Permission ``metadata``; only in hooks about a file. A plugin's record is at most
        64 KB; at most 100 writes and 1 MiB per call.
        """
        self._ch.request("metadata.set", {"values": dict(values)})


class Storage(_Namespace):
    """The plugin's own key-value store in this organization (needs ``storage``)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key`` in this organization, or ``default``.

        Permission ``storage``. Keys are 1-255 characters; at most 1000 reads per call.
        """
        value = self._ch.request("storage.get", {"key": key})
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        """Store the JSON ``value`` under ``key`` (replacing it).

        Permission ``storage``. Quota per organization and plugin: 1000 keys, 1 MiB in all,
        256 KiB per value (CapabilityError beyond); at most 1000 writes and 4 MiB per call.
        """
        self._ch.request("storage.set", {"key": key, "value": value})

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if absent). Permission ``storage``."""
        self._ch.request("storage.delete", {"key": key})

    def keys(self) -> list[str]:
        """Every key this plugin stored in this organization. Permission ``storage``."""
        return list(self._ch.request("storage.keys", {}))


class Http(_Namespace):
    """Outbound HTTP through the host, only to the manifest's ``network.allow`` (needs ``http``)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Send an HTTP(S) request through the host and return its response.

        Permission ``http``, and the URL's host must match the manifest's ``network.allow``.
        The host resolves the name itself and refuses private, loopback, link-local and
        metadata addresses, follows redirects only to allowed hosts, and caps the call (10 s by
        default or ``timeout``, 10 MiB response, 5 MiB request); at most 20 requests and
        16 MiB per hook call. ``json`` is sent as a JSON body; ``data`` as raw bytes.
        """
        body = data.encode() if isinstance(data, str) else data
        reply = self._ch.request(
            "http.request",
            {
                "method": method,
                "url": url,
                "json": json,
                "body": body,
                "headers": dict(headers or {}),
                "timeout": timeout,
            },
        )
        return HttpResponse(
            status=int(reply["status"]),
            headers=dict(reply.get("headers", {})),
            content=bytes(reply.get("body", b"")),
            url=str(reply.get("url", url)),
        )

    def get(self, url: str, **kw: Any) -> HttpResponse:
        """``request("GET", url, ...)``; same permission and limits."""
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> HttpResponse:
        """``request("POST", url, ...)``; same permission and limits."""
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> HttpResponse:
        """``request("PUT", url, ...)``; same permission and limits."""
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> HttpResponse:
        """``request("DELETE", url, ...)``; same permission and limits."""
        return self.request("DELETE", url, **kw)


class Crypto(_Namespace):
    """Hashing, HMAC and randomness served by the host (needs ``crypto``)."""

    def sha256(self, data: bytes) -> str:
        """Hex SHA-256 of ``data``. Permission ``crypto``; at most 4 MiB per request,
        500 requests and 16 MiB per call."""
        return str(self._ch.request("crypto.sha256", {"data": bytes(data)}))

    def hmac_sha256(self, key: bytes, msg: bytes) -> str:
        """Hex HMAC-SHA-256 of ``msg`` under ``key`` (e.g. to sign a webhook). Permission
        ``crypto``; same limits as :meth:`sha256`."""
        return str(self._ch.request("crypto.hmac_sha256", {"key": bytes(key), "msg": bytes(msg)}))

    def random_bytes(self, n: int) -> bytes:
        """``n`` cryptographically random bytes from the host. Permission ``crypto``; at most
        4 MiB per call."""
        return bytes(self._ch.request("crypto.random_bytes", {"n": n}))

    @property
    def lib(self) -> Any:
        """The ``cryptography`` package (the import policy allows it only with ``crypto``)."""
        import cryptography

        return cryptography


class Events(_Namespace):
    """Emit events and call other hooks, with a host-enforced depth limit (needs ``events``)."""

    def emit(self, name: str, data: Any = None) -> None:
        """Record a custom event ``name`` with JSON ``data`` (fire and forget).

        Permission ``events``; the host bounds how many and how large per call.
        """
        self._ch.request("events.emit", {"name": name, "data": data})

    def call(self, hook_name: str, data: Any = None) -> Any:
        """Call another hook of this organization and return its result (the hook result
        shape: ``{"hook", "durationMs", "results": [...]}``).

        Permission ``events``. Runs within this call's remaining time; nesting is limited in
        depth (4 by default) and a plugin already in the chain is not called again; at most 20
        per call.
        """
        return self._ch.request("events.call", {"hook": hook_name, "data": data})


class Secrets(_Namespace):
    """Config values marked ``x-secret`` (needs ``secrets``)."""

    def get(self, key: str) -> Any:
        """The value of the config property ``key`` marked ``"x-secret": true``.

        Permission ``secrets`` (without it ``ctx.config`` shows such values as ``"***"``);
        at most 100 per call.
        """
        return self._ch.request("secrets.get", {"key": key})


class Log(_Namespace):
    """Structured log lines, rate limited by the host."""

    def _send(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        self._ch.log(level, str(msg), fields)

    def debug(self, msg: str, **fields: Any) -> None:
        """Log ``msg`` with structured ``fields`` at debug level. No permission needed.

        The host keeps 50 lines per second per worker and 256 KiB per call, cuts a message at
        4000 characters and keeps at most 32 fields; lines past that are dropped and counted.
        """
        self._send("debug", msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        """Log at info level; see :meth:`debug` for the limits."""
        self._send("info", msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        """Log at warning level; see :meth:`debug` for the limits."""
        self._send("warning", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        """Log at error level; see :meth:`debug` for the limits."""
        self._send("error", msg, fields)


@dataclass(frozen=True)
class HookContext:
    """What a handler receives with its event: who is calling, the config, the deadline and
    the capability namespaces.

    Attributes:
        plugin_id: this plugin's id (``publisher.name``).
        org_id: the organization the call is for; storage and files belong to it.
        hook: the hook being called, e.g. ``"file:uploaded"``.
        deadline: ``time.time()`` after which the host abandons the call (see ``remaining``).
        config: the validated configuration (defaults applied), read-only; ``x-secret``
            values show as ``"***"`` unless the plugin holds ``secrets``. Free to read.
        file_id: the file the call is about, or None for hooks not about a file.
        depth: 0 for a host call, 1+ inside ``ctx.events.call``.
        files: the call's file (``files`` permission); see :class:`Files`.
        images: Pillow decode and derived images (``images``); see :class:`Images`.
        metadata: the file's metadata record (``metadata``); see :class:`Metadata`.
        storage: per-organization key-value store (``storage``); see :class:`Storage`.
        http: outbound HTTP to ``network.allow`` hosts (``http``); see :class:`Http`.
        crypto: hashing, HMAC, randomness (``crypto``); see :class:`Crypto`.
        events: emit events and call hooks (``events``); see :class:`Events`.
        secrets: ``x-secret`` config values (``secrets``); see :class:`Secrets`.
        log: structured logging, no permission; see :class:`Log`.

    A capability used without its permission raises :class:`~proofpix_sdk.PermissionDenied`
    (and the host records a ``permission_denied`` event); a refused or failed request raises
    :class:`~proofpix_sdk.CapabilityError`. Every call counts against the hook call's budget of
    2000 capability requests.
    """

    plugin_id: str
    org_id: str
    hook: str
    deadline: float
    config: Mapping[str, Any]
    channel: Channel = field(repr=False)
    file_id: str | None = None
    depth: int = 0
    files: Files = field(init=False, repr=False)
    images: Images = field(init=False, repr=False)
    metadata: Metadata = field(init=False, repr=False)
    storage: Storage = field(init=False, repr=False)
    http: Http = field(init=False, repr=False)
    crypto: Crypto = field(init=False, repr=False)
    events: Events = field(init=False, repr=False)
    secrets: Secrets = field(init=False, repr=False)
    log: Log = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Freeze ``config`` and create the capability namespaces on the call's channel."""
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        for name, cls in (
            ("files", Files),
            ("images", Images),
            ("metadata", Metadata),
            ("storage", Storage),
            ("http", Http),
            ("crypto", Crypto),
            ("events", Events),
            ("secrets", Secrets),
            ("log", Log),
        ):
            object.__setattr__(self, name, cls(self.channel))

    @property
    def remaining(self) -> float:
        """Seconds left before the host abandons this call."""
        return max(0.0, self.deadline - time.time())
