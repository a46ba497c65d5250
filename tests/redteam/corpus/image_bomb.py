"""Decode a decompression-bomb image (a PNG that claims 100,000 x 100,000 pixels)."""


def attack(event, ctx):
    try:
        img = ctx.images.open()
        img.load()
        return {"got": {"size": list(img.size)}, "errors": []}
    except Exception as exc:
        return {"got": {}, "errors": [f"{type(exc).__name__}: {str(exc)[:200]}"]}
