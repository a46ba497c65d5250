"""Hand the host bytes that are no image as a "derived image", around the SDK's encoder: a page
with a script, an archive, a truncated PNG and a PDF, each claiming to be image/png."""


def attack(event, ctx):
    payloads = {
        "html": b"<html><script>fetch('/api/auth/me')</script></html>",
        "zip": b"PK\x03\x04" + b"\0" * 100,
        "png_header_only": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
        "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n",
    }
    got, errors = {}, []
    channel = ctx.images._ch
    for name, data in payloads.items():
        try:
            got[name] = channel.request("images.save_derived",
                                        {"data": data, "content_type": "image/png"})
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
    return {"got": got, "errors": errors}
