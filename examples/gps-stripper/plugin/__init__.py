"""GPS Stripper: remove the GPS block from a photo's EXIF without touching its pixels.

A JPEG is not re-encoded: its EXIF segment (APP1) is rewritten without the GPS IFD and every
other byte, the compressed image data included, is kept, so the decoded pixels are identical.
Other formats are re-saved by Pillow without EXIF (lossless for PNG, TIFF, WebP lossless).
"""

from __future__ import annotations

import io
import struct

from PIL import Image

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()

GPS_IFD = 0x8825
EXIF_HEADER = b"Exif\x00\x00"


class EncodedImage:
    """Bytes already encoded, handed to ``ctx.images.save_derived`` like a Pillow image."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def save(self, fp: io.BytesIO, format: str | None = None) -> None:  # noqa: A002
        fp.write(self.data)


def rewrite_jpeg_exif(raw: bytes, exif_block: bytes) -> bytes:
    """``raw`` with its APP1 Exif segment replaced by ``exif_block`` (``Exif\\0\\0`` + TIFF)."""
    if raw[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    out = bytearray(raw[:2])
    pos = 2
    replaced = False
    while pos + 4 <= len(raw):
        if raw[pos] != 0xFF:
            raise ValueError("corrupt JPEG segment")
        marker = raw[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data, kept byte for byte
            break
        (length,) = struct.unpack(">H", raw[pos + 2:pos + 4])
        segment = raw[pos:pos + 2 + length]
        if marker == 0xE1 and segment[4:10] == EXIF_HEADER and not replaced:
            if len(exif_block) + 2 > 0xFFFF:
                raise ValueError("EXIF block too large for one segment")
            out += b"\xff\xe1" + struct.pack(">H", len(exif_block) + 2) + exif_block
            replaced = True
        else:
            out += segment
        pos += 2 + length
    out += raw[pos:]
    return bytes(out)


def without_gps(event: dict) -> dict:
    """The event as the next processor should see it: no position in it either."""
    exif = {k: v for k, v in dict(event.get("exif") or {}).items() if k != "gps"}
    return {**event, "exif": exif}


@plugin.hook("file:process")
def strip_gps(event: dict, ctx: HookContext) -> dict:
    raw = ctx.files.read()
    img = Image.open(io.BytesIO(raw))
    exif = img.getexif()
    if GPS_IFD not in exif:
        return {**without_gps(event), "gpsStripped": False}
    remove_all = bool(ctx.config.get("removeAllExif", False))
    if img.format == "JPEG":
        if remove_all:
            exif = Image.Exif()
        else:
            del exif[GPS_IFD]
        derived = ctx.images.save_derived(
            EncodedImage(rewrite_jpeg_exif(raw, exif.tobytes())), format="JPEG")
    else:
        img.load()
        clean = img.copy()
        clean.info.pop("exif", None)
        derived = ctx.images.save_derived(clean, format=img.format or "PNG")
    ctx.log.info("gps stripped", format=img.format, removeAllExif=remove_all)
    return {**without_gps(event), "gpsStripped": True, "derived": derived}
