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
    __slots__ = ("_ch",)

    def __init__(self, channel: Channel) -> None:
        self._ch = channel


class Files(_Namespace):
    """The file this hook call is about (needs ``files``)."""

    def read(self) -> bytes:
        data = self._ch.request("files.read", {})
        if not isinstance(data, bytes):
            raise CapabilityError("host returned no file bytes")
        return data

    def info(self) -> dict[str, Any]:
        return dict(self._ch.request("files.info", {}))


class Images(_Namespace):
    """Decode the call's file with Pillow and hand back derived images (needs ``images``)."""

    def open(self) -> PILImage.Image:
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
        return dict(self._ch.request("metadata.get", {}))

    def set(self, values: Mapping[str, Any]) -> None:
        self._ch.request("metadata.set", {"values": dict(values)})


class Storage(_Namespace):
    """The plugin's own key-value store in this organization (needs ``storage``)."""

    def get(self, key: str, default: Any = None) -> Any:
        value = self._ch.request("storage.get", {"key": key})
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        self._ch.request("storage.set", {"key": key, "value": value})

    def delete(self, key: str) -> None:
        self._ch.request("storage.delete", {"key": key})

    def keys(self) -> list[str]:
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
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> HttpResponse:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> HttpResponse:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> HttpResponse:
        return self.request("DELETE", url, **kw)


class Crypto(_Namespace):
    """Hashing, HMAC and randomness served by the host (needs ``crypto``)."""

    def sha256(self, data: bytes) -> str:
        return str(self._ch.request("crypto.sha256", {"data": bytes(data)}))

    def hmac_sha256(self, key: bytes, msg: bytes) -> str:
        return str(self._ch.request("crypto.hmac_sha256", {"key": bytes(key), "msg": bytes(msg)}))

    def random_bytes(self, n: int) -> bytes:
        return bytes(self._ch.request("crypto.random_bytes", {"n": n}))

    @property
    def lib(self) -> Any:
        """The ``cryptography`` package (the import policy allows it only with ``crypto``)."""
        import cryptography

        return cryptography


class Events(_Namespace):
    """Emit events and call other hooks, with a host-enforced depth limit (needs ``events``)."""

    def emit(self, name: str, data: Any = None) -> None:
        self._ch.request("events.emit", {"name": name, "data": data})

    def call(self, hook_name: str, data: Any = None) -> Any:
        return self._ch.request("events.call", {"hook": hook_name, "data": data})


class Secrets(_Namespace):
    """Config values marked ``x-secret`` (needs ``secrets``)."""

    def get(self, key: str) -> Any:
        return self._ch.request("secrets.get", {"key": key})


class Log(_Namespace):
    """Structured log lines, rate limited by the host."""

    def _send(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        self._ch.log(level, str(msg), fields)

    def debug(self, msg: str, **fields: Any) -> None:
        self._send("debug", msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        self._send("info", msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._send("warning", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self._send("error", msg, fields)


@dataclass(frozen=True)
class HookContext:
    """Per-call context: identity, config, deadline and the capability namespaces."""

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
