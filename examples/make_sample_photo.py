"""Write examples/sample-photo.jpg: a small, deterministic JPEG with camera EXIF and a GPS
position (the Eiffel Tower), for trying the example plugins.

    python examples/make_sample_photo.py [OUT.jpg]
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

MAX_BYTES = 100 * 1024


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = round(((value - deg) * 60 - minutes) * 60 * 100)
    return IFDRational(deg), IFDRational(minutes), IFDRational(seconds, 100)


def sample_photo(latitude: float = 48.8582333, longitude: float = 2.2945) -> bytes:
    width, height = 640, 427
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):  # an evening sky over a darker ground
        t = y / height
        sky = (int(40 + 180 * t), int(80 + 100 * t), int(200 - 80 * t))
        draw.line([(0, y), (width, y)], fill=sky if y < height * 0.7 else (40, 50, 35))
    cx = width // 2
    for i in range(12):  # a lattice tower
        y0 = int(height * 0.7) - i * 22
        half = int(60 * (1 - i / 12) ** 1.5) + 4
        draw.line([(cx - half, y0), (cx + half, y0)], fill=(60, 45, 30), width=3)
        draw.line([(cx - half, y0), (cx, y0 - 22)], fill=(60, 45, 30), width=2)
        draw.line([(cx + half, y0), (cx, y0 - 22)], fill=(60, 45, 30), width=2)
    draw.ellipse([520, 40, 570, 90], fill=(250, 230, 160))
    for x in range(0, width, 9):  # some texture in the grass
        draw.point((x, int(height * 0.72 + 20 * math.sin(x / 17) ** 2)), fill=(90, 110, 60))

    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0131] = "ProofPix sample generator"
    exif[0x0132] = "2026:12:01 18:42:07"
    exif[0x0112] = 1
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x9003] = "2026:12:01 18:42:07"
    exif_ifd[0x829A] = IFDRational(1, 125)
    exif_ifd[0x829D] = IFDRational(56, 10)
    exif_ifd[0x8827] = 400
    exif_ifd[0x920A] = IFDRational(50)
    exif[0x8825] = {
        1: "N" if latitude >= 0 else "S", 2: _dms(abs(latitude)),
        3: "E" if longitude >= 0 else "W", 4: _dms(abs(longitude)),
        5: b"\x00", 6: IFDRational(35),
    }
    for quality in (85, 75, 65, 55):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality, exif=exif, optimize=True)
        if buf.tell() <= MAX_BYTES:
            return buf.getvalue()
    raise RuntimeError("the sample photo does not fit in 100 KB")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("sample-photo.jpg")
    out.write_bytes(sample_photo())
    print(f"{out} ({out.stat().st_size} bytes)")
