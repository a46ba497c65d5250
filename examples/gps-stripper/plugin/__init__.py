"""GPS Stripper: re-encode a photo without its GPS EXIF block."""

from __future__ import annotations

from PIL import Image

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def clean_exif(img: Image.Image, keep_orientation: bool) -> Image.Exif:
    exif = img.getexif()
    exif.pop(GPS_IFD, None)
    if not keep_orientation:
        exif.pop(ORIENTATION, None)
    return exif


@plugin.hook("file:process")
def strip_gps(event: dict, ctx: HookContext) -> dict:
    info = ctx.files.info()
    img = ctx.images.open()
    had_gps = GPS_IFD in img.getexif()
    if not had_gps:
        return {**event, "gpsStripped": False}
    quality = int(ctx.config.get("quality", 90))
    exif = clean_exif(img, bool(ctx.config.get("keepOrientation", True)))
    derived = ctx.images.save_derived(img, format="JPEG", quality=quality, exif=exif.tobytes())
    ctx.log.info("gps stripped", file=info.get("name"), quality=quality)
    return {**event, "gpsStripped": True, "derived": derived}
