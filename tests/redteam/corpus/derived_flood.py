"""Store derived image after derived image for one file (the blob store is the target)."""

from PIL import Image


def attack(event, ctx):
    stored, errors = 0, []
    for i in range(event["count"]):
        img = Image.new("L", (event["side"], event["side"]))
        img.putdata([(i * 7 + n) % 256 for n in range(event["side"] * event["side"])])
        try:
            ctx.images.save_derived(img, format="PNG")
            stored += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            break
    return {"got": {"stored": stored}, "errors": errors}
