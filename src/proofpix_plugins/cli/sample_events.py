"""The events ``plugin test`` feeds a hook when the author gives none.

File hooks get the payload the photo pipeline builds (``files/service.py``): the file's id,
name, type, size, dimensions and the EXIF the host read, from a real photo (``--file``) or a
small generated JPEG with EXIF and GPS tags. The other host hooks get a payload of their
published shape with example values; custom hooks get an empty object.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PIL import Image

from proofpix_plugins.files.images import inspect_image

#: Hooks that are about a file: the call carries the file id, so files/images/metadata work.
FILE_HOOKS: Final = frozenset({"file:uploaded", "metadata:extracted", "file:process"})
#: Hooks the pipeline runs as a waterfall (each plugin's output is the next one's input).
WATERFALL_HOOKS: Final = frozenset({"file:process", "export:before"})


@dataclass(frozen=True)
class Photo:
    """A photo as the host stored it: bytes plus what it read from them."""

    file_id: str
    filename: str
    data: bytes
    content_type: str
    width: int
    height: int
    exif: dict[str, Any]


def generated_jpeg() -> bytes:
    """A 64x48 JPEG with camera and GPS EXIF tags, like a phone photo (no file needed)."""
    img = Image.new("RGB", (64, 48), (90, 140, 200))
    exif = Image.Exif()
    exif[0x010F] = "ProofPix"  # Make
    exif[0x0110] = "Sample Camera"  # Model
    exif[0x0132] = "2026:01:02 03:04:05"  # DateTime
    gps = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    exif[0x8825] = gps  # GPSInfo
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def load_photo(path: Path | None) -> Photo:
    """Read and inspect a photo as the upload route does; ValueError when it is not one."""
    data = path.read_bytes() if path is not None else generated_jpeg()
    name = path.name if path is not None else "sample.jpg"
    with tempfile.NamedTemporaryFile(suffix=".img") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            info = inspect_image(Path(tmp.name))
        except Exception as exc:  # the upload route's own refusal (415/422), said plainly
            detail = getattr(exc, "detail", None) or str(exc)
            raise ValueError(f"{name}: {detail}") from None
    return Photo(str(uuid.uuid4()), name, data, info.content_type, info.width, info.height,
                 info.exif)


def sample_event(hook: str, photo: Photo) -> Any:
    """The default event for ``hook``."""
    file_event = {
        "fileId": photo.file_id, "filename": photo.filename, "contentType": photo.content_type,
        "sizeBytes": len(photo.data), "width": photo.width, "height": photo.height,
        "exif": photo.exif,
    }
    if hook in FILE_HOOKS:
        return file_event
    if hook == "proof:created":
        return {
            "proofId": str(uuid.uuid4()), "fileId": photo.file_id, "filename": photo.filename,
            "sha256": "0" * 64, "createdAt": "2026-01-02T03:04:05Z",
            "metadata": {"exif": photo.exif}, "pluginResults": [],
        }
    if hook == "export:before":
        return {"fileId": photo.file_id, "filename": photo.filename,
                "fields": {"exif": photo.exif, "width": photo.width, "height": photo.height}}
    return {}
