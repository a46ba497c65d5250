"""Decide a photo's type by decoding it, and read its basic EXIF, under an explicit budget.

The declared file name and content type are never trusted: Pillow must open and fully load the
image. Before any pixel is decoded, the header's size is checked against two limits, each named
in the refusal:

* ``MAX_PIXELS`` (200 MP, above any camera sensor): more is a 422 ``max-pixels``. Pillow's own
  decompression-bomb limit is set to the same number, so every image up to it decodes (a valid
  95 MP JPEG is accepted) and nothing past it is decoded;
* the memory the decoded pixels need (width x height x Pillow's bytes per pixel: 1 for
  ``1``/``L``/``P``, 2 for 16-bit grey, 4 for everything else): a decode that could never fit
  ``MAX_DECODE_BYTES`` is a 413 ``max-decode-memory``.

Decodes run in threads, so at most ``MAX_CONCURRENT_DECODES`` run at once and together they hold
at most ``MAX_DECODE_BYTES``: four 88 MP PNG bombs decode one or two at a time instead of adding
gigabytes. A decode that waits longer than ``DECODE_WAIT_SECONDS`` for its turn is a 503 with
``Retry-After``.

EXIF values are made storable: NUL is removed from text and a rational with a zero denominator
(``1/0``, ``0/0``: real cameras write them) is dropped instead of becoming NaN or Infinity, which
PostgreSQL's JSONB refuses.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from proofpix_plugins.errors import (
    FieldError,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

# 200 megapixels: above any current camera sensor, far below a bomb's gigapixels.
MAX_PIXELS = 200_000_000
# The largest image (200 MP at 4 bytes a pixel) fits; two 88 MP RGBA bombs at once do too.
MAX_DECODE_BYTES = 1024 * 1024 * 1024
MAX_CONCURRENT_DECODES = 2
DECODE_WAIT_SECONDS = 30.0
_MIB = 1024 * 1024

# Pillow warns past this and refuses past twice this, whatever we check: make it ours. The
# host decodes only here; plugins decode in their own sandboxed processes under the SDK's limit.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
    "MPO": "image/jpeg",
}

_EXIF_FIELDS = {
    "Make": "make",
    "Model": "model",
    "Software": "software",
    "DateTime": "dateTime",
    "Orientation": "orientation",
}
_EXIF_IFD_FIELDS = {
    "DateTimeOriginal": "dateTimeOriginal",
    "ExposureTime": "exposureTime",
    "FNumber": "fNumber",
    "ISOSpeedRatings": "iso",
    "FocalLength": "focalLength",
    "LensModel": "lensModel",
}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    exif: dict[str, Any] = field(default_factory=dict)


def _invalid(message: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        message, errors=(FieldError("file", message, "image-decode"),)
    )


class DecodeGate:
    """Bounds concurrent decodes by number and by the memory their pixels need together."""

    def __init__(
        self,
        max_bytes: int = MAX_DECODE_BYTES,
        max_concurrent: int = MAX_CONCURRENT_DECODES,
        wait_seconds: float = DECODE_WAIT_SECONDS,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_concurrent = max_concurrent
        self.wait_seconds = wait_seconds
        self._cond = threading.Condition()
        self._running = 0
        self._held = 0

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        if nbytes > self.max_bytes:
            raise PayloadTooLarge(
                f"image needs {math.ceil(nbytes / _MIB)} MiB to decode, over the "
                f"{self.max_bytes // _MIB} MiB decode memory budget",
                errors=(FieldError("file", f"over the {self.max_bytes // _MIB} MiB decode "
                                   "memory budget", "max-decode-memory", self.max_bytes),),
            )
        with self._cond:
            if not self._cond.wait_for(self._fits(nbytes), timeout=self.wait_seconds):
                raise ServiceUnavailable(
                    "image decoding is at capacity; retry shortly",
                    headers={"Retry-After": "5"},
                )
            self._running += 1
            self._held += nbytes
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._held -= nbytes
                self._cond.notify_all()

    def _fits(self, nbytes: int) -> Callable[[], bool]:
        return lambda: (self._running < self.max_concurrent
                        and self._held + nbytes <= self.max_bytes)


# One gate for the process: every upload's decode goes through it.
DECODES = DecodeGate()

_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


def decode_bytes(mode: str, width: int, height: int) -> int:
    """What Pillow allocates for the decoded pixels (multi-band images use 4 bytes a pixel)."""
    return width * height * _BYTES_PER_PIXEL.get(mode, 4)


def _too_many_pixels(pixels: int | None) -> ValidationFailed:
    have = f"{pixels} pixels" if pixels is not None else "more pixels than that"
    return ValidationFailed(
        f"image has {have}, over the {MAX_PIXELS}-pixel limit",
        errors=(FieldError("file", f"over {MAX_PIXELS} pixels", "max-pixels", MAX_PIXELS),),
    )


def inspect_image(path: Path, gate: DecodeGate = DECODES) -> ImageInfo:
    """Open, verify and fully decode the image at ``path``; return its type, size and EXIF."""
    try:
        with Image.open(path) as probe:
            fmt = probe.format or ""
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise _too_many_pixels(width * height)
            needs = decode_bytes(probe.mode, width, height)
            probe.verify()
        with gate.hold(needs), Image.open(path) as img:
            img.load()
            exif = _basic_exif(img)
    # Pillow's warning (where warnings are errors) and error start past MAX_PIXELS too.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(None) from None
    except UnidentifiedImageError:
        raise _invalid("not a decodable image") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _invalid("image data is corrupt or truncated") from None
    content_type = CONTENT_TYPES.get(fmt)
    if content_type is None:
        raise _invalid(f"image format {fmt or 'unknown'} is not accepted")
    return ImageInfo(fmt, content_type, width, height, exif)


def _num(value: Any) -> float | int | str | None:
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    # A zero-denominator rational reads as NaN or Infinity: not a value, and not storable.
    return round(number, 6) if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    # NUL anywhere (padding, or in the middle) cannot be stored in PostgreSQL text or JSONB.
    return value.replace("\x00", "").strip()[:200]


def _basic_exif(img: Image.Image) -> dict[str, Any]:
    raw = img.getexif()
    if not raw:
        return {}
    out: dict[str, Any] = {}
    for tag, name in _EXIF_FIELDS.items():
        value = raw.get(ExifTags.Base[tag])
        if value is not None:
            out[name] = _num(value) if tag == "Orientation" else _text(value)
    ifd = raw.get_ifd(ExifTags.IFD.Exif)
    for tag, name in _EXIF_IFD_FIELDS.items():
        value = ifd.get(ExifTags.Base[tag])
        if value is not None:
            out[name] = _text(value) if isinstance(value, str | bytes) else _num(value)
    gps = _gps(raw.get_ifd(ExifTags.IFD.GPSInfo))
    if gps:
        out["gps"] = gps
    return {k: v for k, v in out.items() if v is not None}


def _dms(values: Any, ref: Any) -> float | None:
    try:
        deg, minutes, seconds = (float(v) for v in values)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    decimal = deg + minutes / 60 + seconds / 3600
    if not math.isfinite(decimal):
        return None
    if _text(ref) in ("S", "W"):
        decimal = -decimal
    return round(decimal, 7)


def _gps(gps: dict[int, Any]) -> dict[str, Any]:
    if not gps:
        return {}
    lat = _dms(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    lon = _dms(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef))
    out: dict[str, Any] = {}
    if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
        out["latitude"] = lat
        out["longitude"] = lon
    alt = _num(gps.get(ExifTags.GPS.GPSAltitude))
    if alt is not None:
        out["altitude"] = alt
    return out
