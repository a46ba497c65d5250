"""Build .ppx archives for tests, including malformed ones no honest tool would produce.

Nothing binary is committed: every archive the suite uses is generated here at test time.
"""

from __future__ import annotations

import json
import stat
import struct
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HANDLER_SOURCE = '''"""A minimal analyzer."""
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    return {"size": len(ctx.files.read())}
'''

_DROP = object()


def manifest(**overrides: Any) -> dict[str, Any]:
    """A valid analyzer manifest; pass ``field=DROP`` to remove a field."""
    base: dict[str, Any] = {
        "id": "acme.sample",
        "name": "Sample Plugin",
        "version": "1.0.0",
        "type": "analyzer",
        "hooks": [{"name": "file:uploaded", "handler": "on_upload"}],
        "permissions": ["files"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


DROP: Any = _DROP


@dataclass
class Raw:
    """One zip entry written exactly as described (name, bytes, attributes, method)."""

    name: str
    data: bytes = b""
    mode: int | None = None  # unix st_mode, stored in external_attr's high 16 bits
    compress: int = zipfile.ZIP_DEFLATED


def write_zip(path: Path, entries: list[Raw]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names; that is the point
        with zipfile.ZipFile(path, "w") as zf:
            for e in entries:
                info = zipfile.ZipInfo(e.name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = e.compress
                info.create_system = 3
                if e.mode is not None:
                    info.external_attr = e.mode << 16
                else:
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, e.data)
    return path


def package_entries(
    files: Mapping[str, str | bytes] | None = None,
    manifest_data: dict[str, Any] | bytes | None = None,
    *,
    with_default_source: bool = True,
) -> list[Raw]:
    out: list[Raw] = []
    if manifest_data is not None:
        raw = (manifest_data if isinstance(manifest_data, bytes)
               else json.dumps(manifest_data, indent=2).encode())
        out.append(Raw("plugin.json", raw))
    merged: dict[str, str | bytes] = {}
    if with_default_source:
        merged["plugin/__init__.py"] = HANDLER_SOURCE
    merged.update(files or {})
    for name, data in merged.items():
        out.append(Raw(name, data.encode() if isinstance(data, str) else data))
    return out


def make_ppx(
    path: Path,
    files: Mapping[str, str | bytes] | None = None,
    manifest_data: dict[str, Any] | bytes | None = None,
    *,
    extra: list[Raw] | None = None,
    with_default_source: bool = True,
) -> Path:
    """A package: plugin.json (default ``manifest()``), default handler, ``files``, ``extra``."""
    data = manifest() if manifest_data is None else manifest_data
    entries = package_entries(files, data, with_default_source=with_default_source)
    return write_zip(path, entries + (extra or []))


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            target.write_text(data, encoding="utf-8")
        else:
            target.write_bytes(data)
    return root


def patch_central_sizes(path: Path, name: str, *, file_size: int) -> None:
    """Make the central directory lie about an entry's uncompressed size."""
    blob = bytearray(path.read_bytes())
    encoded = name.encode()
    pos = 0
    while (pos := blob.find(b"PK\x01\x02", pos)) != -1:
        name_len = struct.unpack_from("<H", blob, pos + 28)[0]
        if bytes(blob[pos + 46:pos + 46 + name_len]) == encoded:
            struct.pack_into("<I", blob, pos + 24, file_size)
        pos += 4
    path.write_bytes(bytes(blob))


def patch_central_offset(path: Path, name: str, *, same_as: str) -> None:
    """Point one central-directory entry at another entry's local header (overlap)."""
    blob = bytearray(path.read_bytes())
    offsets: dict[bytes, int] = {}
    positions: dict[bytes, int] = {}
    pos = 0
    while (pos := blob.find(b"PK\x01\x02", pos)) != -1:
        name_len = struct.unpack_from("<H", blob, pos + 28)[0]
        entry = bytes(blob[pos + 46:pos + 46 + name_len])
        offsets[entry] = struct.unpack_from("<I", blob, pos + 42)[0]
        positions[entry] = pos
        pos += 4
    struct.pack_into("<I", blob, positions[name.encode()] + 42, offsets[same_as.encode()])
    path.write_bytes(bytes(blob))


def mark_encrypted(path: Path, name: str) -> None:
    """Set the 'encrypted' flag bit on an entry (zipfile clears it when writing)."""
    blob = bytearray(path.read_bytes())
    encoded = name.encode()
    pos = 0
    while (pos := blob.find(b"PK\x01\x02", pos)) != -1:
        name_len = struct.unpack_from("<H", blob, pos + 28)[0]
        if bytes(blob[pos + 46:pos + 46 + name_len]) == encoded:
            blob[pos + 8] |= 0x1
            local = struct.unpack_from("<I", blob, pos + 42)[0]
            blob[local + 6] |= 0x1
        pos += 4
    path.write_bytes(bytes(blob))


def corrupt_entry_data(path: Path, name: str) -> None:
    """Flip a byte inside a stored entry's data so its CRC no longer matches."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    blob = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.orig_filename.encode()) + len(info.extra)
    blob[start] ^= 0xFF
    path.write_bytes(bytes(blob))


def writestr_ppx(path: Path, meta: dict[str, Any], files: dict[str, str]) -> Path:
    """A package as Python's ``zipfile.writestr`` writes it (and Windows tools alike): entries
    carry permission bits (0o600) and no file type."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plugin.json", json.dumps(meta))
        for name, text in files.items():
            zf.writestr(name, text)
    return path
