"""The example plugins do what their READMEs say, packed, scanned, extracted and run in the real
sandbox (every hardening layer on) against an in-memory broker."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from proofpix_plugins.packages.archive import extract_archive
from proofpix_plugins.packages.manifest import Manifest, parse_manifest
from proofpix_plugins.packages.pack import write_archive
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.spec import HookBinding, PluginSpec
from proofpix_plugins.scanning import scan_package
from tests.runtime.sandbox_kit import info_for, traversable_dir

pytestmark = pytest.mark.asyncio(loop_scope="module")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class World:
    pool: WorkerPool
    broker: MemoryBroker
    base: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world() -> AsyncIterator[World]:
    with traversable_dir("pp-examples") as base:
        broker = MemoryBroker()
        pool = WorkerPool(RuntimeConfig(base_dir=base / "rt"), broker)
        await pool.start()
        try:
            yield World(pool, broker, base)
        finally:
            await pool.close()


async def _install(world: World, name: str, config: dict[str, object] | None = None
                   ) -> tuple[PluginSpec, Manifest]:
    ppx = world.base / f"{name}.ppx"
    write_archive(EXAMPLES / name, ppx)
    report = scan_package(ppx, platform_version="0.1.0", python_version="3.11.7")
    assert not report.rejected
    root = world.base / "plugins" / name
    archive = extract_archive(ppx, root)
    manifest = parse_manifest(archive.manifest_bytes)
    spec = PluginSpec(
        org_id="org-1", plugin_id=manifest.id, version=manifest.version, root=root,
        entry=manifest.entry,
        hooks={h.name: HookBinding(h.handler, h.priority) for h in manifest.hooks},
        permissions=frozenset(manifest.permissions),
        network_allow=tuple(manifest.network.allow),
        memory_mb=manifest.resources.memory_mb, timeout_ms=manifest.resources.timeout_ms,
        config=config or {}, secret_keys=manifest.secret_config_keys(),
    )
    await world.pool.load(spec)
    return spec, manifest


def _gps_jpeg() -> bytes:
    img = Image.new("RGB", (32, 16), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "Acme"
    exif[0x0110] = "Cam 1"
    exif[0x0112] = 6  # rotated: keepOrientation must turn the pixels
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


async def test_exif_reader_reports_camera_and_gps(world: World) -> None:
    spec, _ = await _install(world, "exif-reader")
    world.broker.add_file("org-1", "f-exif", _gps_jpeg())
    out = await world.pool.call(spec.key, "file:uploaded", {}, timeout_ms=5000,
                                info=info_for(spec, "file:uploaded", file_id="f-exif"))
    assert out.status == "ok", out.error
    assert out.result["hasGps"] is True
    assert out.result["camera"] == "Acme Cam 1"
    # Stored in the plugin's own namespace, beside (never over) the host's EXIF record.
    stored = world.broker.metadata["f-exif"]["plugins"]["proofpix.exif-reader"]
    assert stored["exif"]["hasGps"] is True


async def test_gps_stripper_returns_a_derived_image_without_gps(world: World) -> None:
    spec, _ = await _install(world, "gps-stripper")
    original = _gps_jpeg()
    world.broker.add_file("org-1", "f-gps", original)
    out = await world.pool.call(spec.key, "file:process", {"step": 1}, timeout_ms=10000,
                                info=info_for(spec, "file:process", file_id="f-gps"))
    assert out.status == "ok", out.error
    assert out.result["gpsStripped"] is True
    assert out.result["step"] == 1
    derived = world.broker.derived[-1]
    img = Image.open(io.BytesIO(derived.data))
    assert 0x8825 not in img.getexif()
    # Not re-encoded: the same pixels, and the orientation tag still says how to show them.
    assert img.getexif()[0x0112] == 6
    assert img.convert("RGB").tobytes() == Image.open(io.BytesIO(original)).convert(
        "RGB").tobytes()


async def test_upload_counter_counts_per_org(world: World) -> None:
    spec, _ = await _install(world, "upload-counter")
    photo = _gps_jpeg()
    world.broker.add_file("org-1", "f-count", photo)
    for expected in (1, 2, 3):
        out = await world.pool.call(spec.key, "file:uploaded", {}, timeout_ms=2000,
                                    info=info_for(spec, "file:uploaded", file_id="f-count"))
        assert out.status == "ok", out.error
        assert out.result["total"] == expected
    report = await world.pool.call(spec.key, "export:before", {"format": "zip"},
                                   timeout_ms=2000, info=info_for(spec, "export:before"))
    assert report.status == "ok", report.error
    assert report.result["uploadCounts"]["total"] == 3
    assert report.result["uploadCounts"]["bytes"] == 3 * len(photo)
    assert json.dumps(report.result)  # JSON-compatible out
