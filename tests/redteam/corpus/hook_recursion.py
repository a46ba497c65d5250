"""Call a hook that calls itself back, forever (needs events)."""


def attack(event, ctx):
    try:
        return {"got": ctx.events.call(event["hook"], event), "errors": []}
    except Exception as exc:
        return {"got": None, "errors": [f"{type(exc).__name__}: {exc}"]}
