"""Emit a flood of large custom events (host storage and listeners are the target)."""


def attack(event, ctx):
    sent, errors = 0, []
    data = {"blob": "x" * event["bytes"]}
    for _ in range(event["count"]):
        try:
            ctx.events.emit("acme:flood", data)
            sent += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            break
    return {"got": {"sent": sent}, "errors": errors}
