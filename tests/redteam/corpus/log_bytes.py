"""Write huge log lines straight onto the channel, past the SDK's own truncation."""


def attack(event, ctx):
    wire = type(ctx.channel).__init__.__globals__["wire"]
    fields = {f"f{i}": "v" * event["field_chars"] for i in range(event["fields"])}
    for _ in range(event["lines"]):
        ctx.channel.send(wire.Log(level="error", msg="L" * event["msg_chars"], fields=fields))
    return {"got": {}, "errors": []}
