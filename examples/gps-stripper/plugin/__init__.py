"""GPS Stripper: re-encode a photo without its EXIF block (and with it, the GPS position)."""

from __future__ import annotations

from PIL import ImageOps

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()

GPS_IFD = 0x8825


@plugin.hook("file:process")
def strip_gps(event: dict, ctx: HookContext) -> dict:
    info = ctx.files.info()
    img = ctx.images.open()
    if GPS_IFD not in img.getexif():
        return {**event, "gpsStripped": False}
    if ctx.config.get("keepOrientation", True):
        # Bake the EXIF orientation into the pixels: it must survive losing the EXIF block.
        img = ImageOps.exif_transpose(img)
    # Pillow writes no EXIF unless asked to, so the derived JPEG carries no location.
    derived = ctx.images.save_derived(img, format="JPEG")
    ctx.log.info("gps stripped", file=info.get("filename"))
    return {**event, "gpsStripped": True, "derived": derived}
