"""EXIF Reader: a small, dependency-free EXIF parser for JPEG uploads."""

from __future__ import annotations

import struct

from proofpix_sdk import HookContext, Plugin

from .exif import TAG_NAMES, read_ifd

plugin = Plugin()


def find_exif(raw: bytes) -> bytes | None:
    """Return the TIFF block of the APP1 Exif segment, or None."""
    if raw[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(raw):
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        (length,) = struct.unpack(">H", raw[pos + 2:pos + 4])
        segment = raw[pos + 4:pos + 2 + length]
        if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            return segment[6:]
        if marker == 0xDA:  # start of scan: no more metadata segments
            return None
        pos += 2 + length
    return None


def camera_name(make: object, model: object) -> str | None:
    """``Canon EOS 5D``, not ``Canon Canon EOS 5D``: many models already start with the make."""
    make_s, model_s = str(make or "").strip(), str(model or "").strip()
    if make_s and model_s.lower().startswith(make_s.lower()):
        return model_s
    return " ".join(p for p in (make_s, model_s) if p) or None


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    raw = ctx.files.read()
    tiff = find_exif(raw)
    if tiff is None:
        return {"exif": False}
    tags = read_ifd(tiff)
    result = {
        "exif": True,
        "camera": camera_name(tags.get("Make"), tags.get("Model")),
        "takenAt": tags.get("DateTimeOriginal") or tags.get("DateTime"),
        "hasGps": "GPSInfo" in tags,
        "tagCount": len(tags),
    }
    ctx.metadata.set({"exif": result})
    ctx.log.info("exif read", tags=len(tags), known=len(TAG_NAMES))
    return result
