"""What a plugin may hand back as a derived image (``images.save_derived``): a budget and a type.

One policy for every broker, as for storage (``quota.py``): the database broker and the
in-memory one the red team attacks both ask it, so a flood stopped in the red team is stopped in
production (tests/runtime/test_broker_contract.py runs both).

- **Budget.** A derived image is at most ``max_image_bytes``; one run of a file's pipeline stores
  at most ``max_file_images`` of them and ``max_file_bytes`` in all. Without it, one processor
  could loop ``save_derived`` and fill the blob store (each call is a new blob).
- **Type.** The bytes must be an image of a format the product accepts for uploads, identified
  by Pillow from the bytes (never from the claimed content type), within the pixel limit of
  uploads. The stored content type is the identified one.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from proofpix_plugins.runtime.errors import CapabilityError

#: The formats uploads accept (``files/images.py`` keeps the same table for uploads; a test
#: holds them equal) and the content type each is served as.
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
    "MPO": "image/jpeg",
}
#: As for uploads: above any camera sensor, far below a bomb's gigapixels.
MAX_PIXELS = 200_000_000


@dataclass(frozen=True)
class DerivedImageBudget:
    """Per call and per pipeline run of one file."""

    #: One image: the wire's blob cap (and the SDK's ``MAX_DERIVED_BYTES``).
    max_image_bytes: int = 32 * 1024 * 1024
    #: All derived images of one run of one file's pipeline, together.
    max_file_bytes: int = 64 * 1024 * 1024
    #: How many derived images one run of one file's pipeline may store.
    max_file_images: int = 8

    def admit(self, *, spent_bytes: int, spent_images: int, new_bytes: int) -> None:
        """Refuse an image over the per-call cap or one that would overrun the file's budget."""
        if new_bytes > self.max_image_bytes:
            raise CapabilityError(
                f"derived image budget: one image is at most {self.max_image_bytes} bytes")
        if spent_images + 1 > self.max_file_images:
            raise CapabilityError(
                f"derived image budget: at most {self.max_file_images} images per file")
        if spent_bytes + new_bytes > self.max_file_bytes:
            raise CapabilityError(
                f"derived image budget: at most {self.max_file_bytes} bytes per file")


def identify_image(data: bytes) -> str:
    """The content type of ``data`` if it is an image of an accepted format; else CapabilityError.

    Pillow reads the header and checks the structure (``verify``) without decoding the pixels,
    so a bomb costs nothing here; run it in a thread all the same (it is CPU work).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise CapabilityError(f"derived image has more than {MAX_PIXELS} pixels")
                img.verify()
    except CapabilityError:
        raise
    except Exception:  # hostile bytes: whatever Pillow's parsers raise means "not an image"
        raise CapabilityError("a derived image must be an image (no image found in the data)"
                              ) from None
    content_type = ACCEPTED_FORMATS.get(fmt)
    if content_type is None:
        raise CapabilityError(f"derived image format {fmt or 'unknown'} is not accepted")
    return content_type
