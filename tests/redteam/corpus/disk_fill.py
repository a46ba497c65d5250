"""Fill the disk from the scratch dir with one huge file."""

import os


def attack(event, ctx):
    path = os.path.join(event.get("scratch") or os.getcwd(), "fill.bin")
    block = b"\0" * (1024 * 1024)
    written = 0
    try:
        with open(path, "wb") as fh:
            while written < event["target_mb"]:
                fh.write(block)
                written += 1
    except OSError as exc:
        return {"got": {"mb": written, "path": path}, "errors": [f"errno {exc.errno}"]}
    return {"got": {"mb": written, "path": path}, "errors": []}
