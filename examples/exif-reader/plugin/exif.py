"""Minimal TIFF/EXIF IFD reader (ASCII and short/long values of IFD0 only)."""

from __future__ import annotations

import struct

TAG_NAMES = {
    0x010F: "Make",
    0x0110: "Model",
    0x0132: "DateTime",
    0x8769: "ExifOffset",
    0x8825: "GPSInfo",
    0x9003: "DateTimeOriginal",
}


def read_ifd(tiff: bytes) -> dict[str, object]:
    if tiff[:2] == b"II":
        order = "<"
    elif tiff[:2] == b"MM":
        order = ">"
    else:
        return {}
    (offset,) = struct.unpack(order + "I", tiff[4:8])
    if offset + 2 > len(tiff):
        return {}
    (count,) = struct.unpack(order + "H", tiff[offset:offset + 2])
    tags: dict[str, object] = {}
    for i in range(min(count, 256)):
        entry = tiff[offset + 2 + 12 * i: offset + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind, n, value = struct.unpack(order + "HHI4s", entry)
        name = TAG_NAMES.get(tag)
        if name is None:
            continue
        if kind == 2:  # ASCII
            start = struct.unpack(order + "I", value)[0] if n > 4 else None
            data = tiff[start:start + n] if start is not None else value[:n]
            tags[name] = data.rstrip(b"\x00").decode("ascii", "replace")
        elif kind in (3, 4):
            fmt = "H" if kind == 3 else "I"
            tags[name] = struct.unpack(order + fmt, value[: struct.calcsize(fmt)])[0]
    return tags
