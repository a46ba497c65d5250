"""Make the host decode something expensive: a result, capability request or log frame of a
few MB of tiny objects, or nested hundreds of levels deep (no permission needed)."""


def _wire(ctx):
    # The worker's wire module, reached through the channel object the SDK hands out.
    return type(ctx.channel).__init__.__globals__["wire"]


def attack(event, ctx):
    mode, n = event["mode"], event["n"]
    if mode == "many":
        return [[]] * n
    if mode == "deep":
        value = None
        for _ in range(n):
            value = [value]
        return value
    if mode == "cap":
        try:
            ctx.channel.request("storage.get", {"key": [[]] * n})
        except Exception as exc:
            return {"got": {}, "errors": [f"{type(exc).__name__}: {exc}"]}
        return {"got": {"answered": True}, "errors": []}
    if mode == "log":
        wire = _wire(ctx)
        ctx.channel.send(wire.Log(level="info", msg="reply-bomb log", fields={"f": [[]] * n}))
        return {"got": {}, "errors": []}
    raise ValueError(mode)
