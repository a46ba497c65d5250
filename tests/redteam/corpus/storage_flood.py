"""Fill the host's storage far beyond the plugin's quota."""


def attack(event, ctx):
    stored, errors = 0, []
    blob = "x" * event["value_bytes"]
    for i in range(event["keys"]):
        try:
            ctx.storage.set(f"k{i}", blob)
            stored += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            break
    return {"got": {"stored": stored}, "errors": errors}
