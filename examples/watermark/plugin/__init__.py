"""Watermark: stamp a text on the photo, at a configurable place and opacity.

It runs after GPS Stripper (priority 40 < 90), so it stamps the already-stripped bytes, and it
keeps its input's EXIF (which by then carries no position). A JPEG is re-encoded at quality 95;
a PNG stays lossless.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()

DEFAULTS = {"text": "ProofPix", "position": "bottom-right", "opacity": 0.5, "scale": 0.08}
MARGIN = 0.03


class EncodedImage:
    """Bytes already encoded, handed to ``ctx.images.save_derived`` like a Pillow image."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def save(self, fp: io.BytesIO, format: str | None = None) -> None:  # noqa: A002
        fp.write(self.data)


def settings(config: dict) -> dict:
    return {key: config.get(key, default) for key, default in DEFAULTS.items()}


def text_box(size: tuple[int, int], box: tuple[int, int], position: str) -> tuple[int, int]:
    """Top-left corner of a ``box``-sized text at ``position`` in an image of ``size``."""
    (w, h), (bw, bh) = size, box
    mx, my = int(w * MARGIN), int(h * MARGIN)
    x = {"left": mx, "right": w - bw - mx}.get(position.split("-")[-1], (w - bw) // 2)
    y = {"top": my, "bottom": h - bh - my}.get(position.split("-")[0], (h - bh) // 2)
    return max(0, x), max(0, y)


def stamp_image(img: Image.Image, cfg: dict) -> tuple[Image.Image, list[int]]:
    base = img.convert("RGBA")
    font_px = max(8, int(min(base.size) * float(cfg["scale"])))
    font = ImageFont.load_default(size=font_px)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), str(cfg["text"]), font=font)
    x, y = text_box(base.size, (right - left, bottom - top), str(cfg["position"]))
    alpha = round(255 * float(cfg["opacity"]))
    draw.text((x - left, y - top), str(cfg["text"]), font=font, fill=(255, 255, 255, alpha),
              stroke_width=max(1, font_px // 16), stroke_fill=(0, 0, 0, alpha))
    out = Image.alpha_composite(base, layer)
    return out, [x, y, x + right - left, y + bottom - top]


@plugin.hook("file:process")
def stamp(event: dict, ctx: HookContext) -> dict:
    cfg = settings(dict(ctx.config))
    img = ctx.images.open()
    fmt = img.format or "PNG"
    exif = img.info.get("exif")
    stamped, box = stamp_image(img, cfg)
    buf = io.BytesIO()
    if fmt == "JPEG":
        kwargs = {"quality": 95, **({"exif": exif} if exif else {})}
        stamped.convert("RGB").save(buf, format="JPEG", **kwargs)
    else:
        fmt = "PNG"
        stamped.save(buf, format="PNG")
    derived = ctx.images.save_derived(EncodedImage(buf.getvalue()), format=fmt)
    ctx.log.info("watermarked", file=ctx.files.info().get("filename"), box=box)
    return {**event, "watermark": {"text": cfg["text"], "position": cfg["position"],
                                   "opacity": cfg["opacity"], "box": box},
            "derived": derived}
