"""Read the server's data directory: secrets, database, blobs (paths from the test)."""

import os


def attack(event, ctx):
    got, errors = {}, []
    for path in event["paths"]:
        try:
            with open(path, "rb") as fh:
                got[path] = fh.read().decode("latin-1")
        except Exception as exc:
            errors.append(f"{path}: {type(exc).__name__}")
    for directory in event.get("dirs", []):
        try:
            got[directory] = sorted(os.listdir(directory))
        except Exception as exc:
            errors.append(f"{directory}: {type(exc).__name__}")
    return {"got": got, "errors": errors}
