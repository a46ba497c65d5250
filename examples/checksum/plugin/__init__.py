"""Checksum: SHA-256 and a perceptual hash (dHash) of each upload, and duplicate detection.

The plugin's own storage (per organization) remembers ``sha:<sha256>`` -> the file ids with
those exact bytes, and a bounded list of recent (file id, dHash) pairs: an upload whose dHash
differs from a remembered one by at most ``similarBits`` bits is a near duplicate (the same
picture re-encoded, resized or lightly edited).
"""

from __future__ import annotations

import hashlib

from PIL import Image

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()

RECENT_KEY = "recent"


def dhash(img: Image.Image) -> str:
    """64-bit difference hash: is each pixel of a 9x8 grey thumbnail brighter than its right
    neighbour. Robust to re-encoding and resizing; hex string."""
    small = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    px = list(small.getdata())
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return f"{bits:016x}"


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@plugin.hook("file:uploaded")
def fingerprint(event: dict, ctx: HookContext) -> dict:
    similar_bits = int(ctx.config.get("similarBits", 6))
    remember = int(ctx.config.get("remember", 500))
    file_id = str(event.get("fileId"))
    sha = hashlib.sha256(ctx.files.read()).hexdigest()
    phash = dhash(ctx.images.open())

    exact_key = f"sha:{sha}"
    same = [f for f in ctx.storage.get(exact_key, []) if f != file_id]
    ctx.storage.set(exact_key, (same + [file_id])[-50:])

    recent = [r for r in ctx.storage.get(RECENT_KEY, []) if r.get("fileId") != file_id]
    similar = sorted(
        ({"fileId": r["fileId"], "distance": distance(phash, r["dhash"])} for r in recent
         if r.get("fileId") not in same and distance(phash, r["dhash"]) <= similar_bits),
        key=lambda s: s["distance"],
    )
    ctx.storage.set(RECENT_KEY, (recent + [{"fileId": file_id, "dhash": phash}])[-remember:])

    result = {"sha256": sha, "dhash": phash, "duplicateOf": same, "similarTo": similar[:20],
              "duplicate": bool(same or similar)}
    ctx.metadata.set({"checksum": result})
    return result
