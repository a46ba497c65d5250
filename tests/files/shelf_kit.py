"""Helpers of the proof, export and example-plugin tests: real photos, real packages installed
through the API, and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from proofpix_plugins.packages.pack import write_archive
from tests.fixtures.app import TestUser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GPS = {"latitude": 48.8582333, "longitude": 2.2945}


def photo(size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (200, 30, 30), *,
          gps: bool = True, fmt: str = "JPEG", pattern: bool = True) -> bytes:
    """A real photo with camera EXIF and, by default, a GPS position (Eiffel Tower)."""
    img = Image.new("RGB", size, color)
    if pattern:  # some structure, so perceptual hashes and pixel comparisons mean something
        for x in range(size[0]):
            for y in range(0, size[1], 2):
                img.putpixel((x, y), ((x * 7) % 256, (y * 5) % 256, (x * y) % 256))
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0132] = "2026:12:01 09:30:00"
    if gps:
        exif[0x8825] = {
            1: "N", 2: (IFDRational(48), IFDRational(51), IFDRational(2964, 100)),
            3: "E", 4: (IFDRational(2), IFDRational(17), IFDRational(4020, 100)),
            5: b"\x00", 6: IFDRational(35),
        }
    buf = io.BytesIO()
    img.save(buf, format=fmt, exif=exif, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as img:
        return bool(img.getexif().get_ifd(0x8825)) or 0x8825 in img.getexif()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB").tobytes()


def pack_example(name: str, out_dir: Path, *, allow: list[str] | None = None) -> Path:
    """Pack ``examples/<name>`` as it is; ``allow`` replaces only its ``network.allow`` (so a
    connector may reach the test's receiver on localhost) and nothing else."""
    src = EXAMPLES / name
    if allow is not None:
        copy = out_dir / f"src-{name}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(src, copy)
        meta = json.loads((copy / "plugin.json").read_text())
        meta["network"] = {"allow": allow}
        (copy / "plugin.json").write_text(json.dumps(meta))
        src = copy
    out = out_dir / f"{name}.ppx"
    write_archive(src, out)
    return out


async def install(api: httpx.AsyncClient, user: TestUser, ppx: Path,
                  metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {"metadata": json.dumps(metadata)} if metadata is not None else None
    r = await api.post("/api/plugins/install", headers=user.headers, data=data,
                       files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def load(api: httpx.AsyncClient, user: TestUser, plugin_id: str) -> None:
    r = await api.post(f"/api/plugins/{plugin_id}/load", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "loaded"


async def install_example(api: httpx.AsyncClient, user: TestUser, name: str, out_dir: Path,
                          *, config: dict[str, Any] | None = None,
                          allow: list[str] | None = None) -> str:
    """Pack, install through the API (with ``config``), load; answers the plugin id."""
    ppx = pack_example(name, out_dir, allow=allow)
    body = await install(api, user, ppx, {"config": config} if config is not None else None)
    plugin_id = str(body["plugin"]["id"])
    await load(api, user, plugin_id)
    return plugin_id


async def upload(api: httpx.AsyncClient, user: TestUser, data: bytes,
                 name: str = "photo.jpg") -> dict[str, Any]:
    r = await api.post("/api/files", files={"file": (name, data, "image/jpeg")},
                       headers=user.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def result_of(record: dict[str, Any], plugin_id: str, hook: str) -> dict[str, Any]:
    found = [r for r in record["pluginResults"]
             if r["pluginId"] == plugin_id and r["hook"] == hook]
    assert len(found) == 1, record["pluginResults"]
    assert found[0]["status"] == "ok", found[0]
    out: dict[str, Any] = found[0]["result"]
    return out


# -- a real HTTP receiver ------------------------------------------------------------------

@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verdict: int


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1; ``judge(path, headers, body)`` picks the status."""

    judge: Callable[[str, dict[str, str], bytes], int]
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook", host: str = "hooks.acme.example") -> str:
        return f"http://{host}:{self.port}{path}"


#: Public hook hosts the connectors' manifests allow, and the test-only loopback switch names.
LOCAL_NAMES = ("hooks.acme.example", "hooks.slack.com")


def resolve_locally(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Point only ``LOCAL_NAMES`` at 127.0.0.1 in the host's egress resolver (every other name
    resolves as usual), so the connectors reach the receiver with their manifests unchanged.
    Everything after the name lookup is real: the address policy, the connection, HTTP."""
    from proofpix_plugins.runtime.egress import fetch as egress

    real = egress.SystemResolver.resolve
    asked: list[str] = []

    async def resolve(self: egress.SystemResolver, host: str, port: int) -> list[str]:
        asked.append(host)
        if host in LOCAL_NAMES:
            return ["127.0.0.1"]
        return await real(self, host, port)

    monkeypatch.setattr(egress.SystemResolver, "resolve", resolve)
    return asked


@contextmanager
def receiver(judge: Callable[[str, dict[str, str], bytes], int]) -> Iterator[Receiver]:
    state = Receiver(judge)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            verdict = state.judge(self.path, headers, body)
            state.requests.append(Received(self.path, headers, body, verdict))
            reply = b"ok" if verdict == 200 else b"refused"
            self.send_response(verdict)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def hmac_judge(key: bytes) -> Callable[[str, dict[str, str], bytes], int]:
    """200 when ``X-ProofPix-Signature`` is the HMAC-SHA256 of the body, 401 otherwise."""
    def judge(path: str, headers: dict[str, str], body: bytes) -> int:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        given = headers.get("x-proofpix-signature", "")
        ok = hmac.compare_digest(expected, given)
        return 200 if ok and headers.get("content-type") == "application/json" else 401
    return judge


def slack_judge(path: str, headers: dict[str, str], body: bytes) -> int:
    """What Slack's incoming webhooks accept: JSON with a non-empty ``text`` and valid blocks."""
    if not headers.get("content-type", "").startswith("application/json"):
        return 400
    try:
        message = json.loads(body)
    except ValueError:
        return 400
    if not isinstance(message, dict) or not isinstance(message.get("text"), str) or not (
            message["text"]):
        return 400
    blocks = message.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return 400
    for block in blocks:
        if block.get("type") not in {"section", "context", "divider", "header", "actions"}:
            return 400
        if block["type"] == "section" and not (block.get("text") or block.get("fields")):
            return 400
        for part in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if part is not None and (part.get("type") not in {"mrkdwn", "plain_text"}
                                     or not isinstance(part.get("text"), str)):
                return 400
    return 200
