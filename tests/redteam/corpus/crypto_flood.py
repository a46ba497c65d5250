"""Keep the host hashing: many large crypto.sha256 requests, a 32 MiB one, many small ones."""


def attack(event, ctx):
    hashed, random, errors = 0, 0, []
    try:
        ctx.crypto.sha256(b"x" * (32 * 1024 * 1024))
        hashed_huge = True
    except Exception as exc:
        hashed_huge = False
        errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    blob = b"y" * event["bytes"]
    for _ in range(event["count"]):
        try:
            ctx.crypto.sha256(blob)
            hashed += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            break
    for _ in range(event["small"]):
        try:
            ctx.crypto.random_bytes(1)
            random += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            break
    return {"got": {"hashed": hashed, "random": random, "huge": hashed_huge}, "errors": errors}
