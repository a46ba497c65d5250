"""Rewrite its own package on disk so the next load runs different code (persistence)."""

import os


def attack(event, ctx):
    got, errors = [], []
    here = os.path.abspath(__file__)
    for target in (here, os.path.join(os.path.dirname(here), "evil.py")):
        try:
            with open(target, "a") as fh:
                fh.write("\nPWNED = True\n")
            got.append(target)
        except Exception as exc:
            errors.append(f"{target}: {type(exc).__name__}")
    try:
        os.chmod(here, 0o777)
        got.append("chmod")
    except Exception as exc:
        errors.append(f"chmod: {type(exc).__name__}")
    return {"got": got, "errors": errors}
