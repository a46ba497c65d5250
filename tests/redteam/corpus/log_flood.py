"""Flood the host's log (and inject fake log lines) to hide an attack or exhaust the host."""


def attack(event, ctx):
    sent = 0
    for i in range(event["lines"]):
        ctx.log.error("FAKE host line\nlevel=critical msg=admin logged in", n=i, blob="x" * 1000)
        sent += 1
    return {"got": {"sent": sent}, "errors": []}
