"""Build real .ppx packages and real JPEGs for the plugin API tests."""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from proofpix_plugins.packages.pack import write_archive


def manifest(plugin_id: str, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": plugin_id,
        "name": f"Test plugin {plugin_id}",
        "version": version,
        "type": "analyzer",
        "category": "metadata",
        "description": "a plugin built by the test suite",
        "entry": "plugin",
        "hooks": [],
        "permissions": [],
    }
    base.update(fields)
    return base


def build_ppx(
    out_dir: Path, meta: dict[str, Any], source: str, *, extra: dict[str, str] | None = None
) -> Path:
    """Write a source tree and pack it; returns the .ppx path."""
    src = out_dir / f"src-{meta['id']}-{meta['version']}"
    shutil.rmtree(src, ignore_errors=True)
    (src / "plugin").mkdir(parents=True)
    (src / "plugin.json").write_text(json.dumps(meta))
    (src / "plugin" / "__init__.py").write_text(textwrap.dedent(source))
    for name, text in (extra or {}).items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    out = out_dir / f"{meta['id']}-{meta['version']}.ppx"
    write_archive(src, out)
    return out


ANALYZER = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    meta = ctx.metadata.get()
    gps = meta.get("exif", {}).get("gps")
    ctx.metadata.set({"hasGps": gps is not None})
    return {"hasGps": gps is not None, "bytes": len(ctx.files.read())}
"""

PROCESSOR = """
import io

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("file:process")
def strip_gps(event: dict, ctx: HookContext) -> dict:
    img = ctx.images.open()
    clean = img.copy()
    out = ctx.images.save_derived(clean, format="JPEG")
    return {"stripped": True, "derived": out.get("sha256")}
"""

COUNTER = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:count")
def count(event: dict, ctx: HookContext) -> dict:
    n = (ctx.storage.get("n") or 0) + 1
    ctx.storage.set("n", n)
    return {"n": n, "greeting": ctx.config.get("greeting"), "token": ctx.config.get("token")}
"""

HTTP_WANTER = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:ping")
def ping(event: dict, ctx: HookContext) -> dict:
    return {"ok": True}
"""


def gps_jpeg(path: Path) -> Path:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8825] = {
        1: "N", 2: (IFDRational(48), IFDRational(51), IFDRational(2964, 100)),
        3: "E", 4: (IFDRational(2), IFDRational(17), IFDRational(4032, 100)),
    }
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    path.write_bytes(buf.getvalue())
    return path
