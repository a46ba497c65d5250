"""Emit up to the per-call budget, then nest a hook call into a second plugin that emits its
own budget again, as if a nested call started afresh."""


def attack(event, ctx):
    emitted, errors = 0, []
    for _ in range(event["count"]):
        try:
            ctx.events.emit("acme:nested", {"blob": "x" * 100})
            emitted += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            break
    nested = None
    if event.get("next"):
        nested = ctx.events.call(event["next"], {"count": event["count"]})
    return {"got": {"emitted": emitted}, "errors": errors, "nested": nested}
