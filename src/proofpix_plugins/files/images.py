"""Decide a photo's type by decoding it, and read its basic EXIF, with bomb limits.

The declared file name and content type are never trusted: Pillow must open and fully load the
image. Decompression bombs (pixel count far beyond any camera) are refused before decoding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from proofpix_plugins.errors import FieldError, UnsupportedMediaType, ValidationFailed

# 200 megapixels: above any current camera sensor, far below a bomb's gigapixels.
MAX_PIXELS = 200_000_000

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


def inspect_image(path: Path) -> ImageInfo:
    """Open, verify and fully decode the image at ``path``; return its type, size and EXIF."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise ValidationFailed(
                        "image has too many pixels",
                        errors=(FieldError("file", f"over {MAX_PIXELS} pixels", "max-pixels"),),
                    )
                probe.verify()
            with Image.open(path) as img:
                img.load()
                exif = _basic_exif(img)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
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
    if isinstance(value, float | Fraction):
        return round(float(value), 6)
    try:
        return round(float(value), 6)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ")[:200]


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
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    decimal = deg + minutes / 60 + seconds / 3600
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
    alt = gps.get(ExifTags.GPS.GPSAltitude)
    if alt is not None:
        out["altitude"] = _num(alt)
    return out
