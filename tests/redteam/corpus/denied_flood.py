"""With no permission at all, ask for storage again and again: every refusal is an event row."""


def attack(event, ctx):
    denied = 0
    for i in range(event["count"]):
        try:
            ctx.storage.get(f"k{i}")
        except Exception:
            denied += 1
    return {"got": {}, "errors": [], "denied": denied}
