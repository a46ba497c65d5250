"""Fill the disk from the scratch dir: one huge file, many big files, or many empty files."""

import os


def _fill(path, mb):
    block = b"\0" * (1024 * 1024)
    written = 0
    with open(path, "wb") as fh:
        try:
            while written < mb:
                fh.write(block)
                fh.flush()
                written += 1
        finally:
            fh.flush()
    return written


def attack(event, ctx):
    scratch = event.get("scratch") or os.getcwd()
    target = event.get("target_mb", 0)
    per_file = event.get("file_mb") or target  # default: everything in one file
    written, files = 0, 0
    try:
        if event.get("inodes"):
            for i in range(event["inodes"]):
                open(os.path.join(scratch, f"empty-{i}"), "wb").close()
                files += 1
        else:
            while written < target:
                path = os.path.join(scratch, f"fill-{files}.bin")
                files += 1
                written += _fill(path, min(per_file, target - written))
    except OSError as exc:
        return {"got": {"mb": written, "files": files}, "errors": [f"errno {exc.errno}"]}
    return {"got": {"mb": written, "files": files}, "errors": []}
