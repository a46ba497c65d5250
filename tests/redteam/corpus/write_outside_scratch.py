"""Write marker files outside the scratch dir: /tmp, the base dir, /etc, the cwd."""


def attack(event, ctx):
    written, errors = [], []
    for path in event["targets"]:
        try:
            with open(path, "w") as fh:
                fh.write("pwned")
            written.append(path)
        except Exception as exc:
            errors.append(f"{path}: {type(exc).__name__}")
    return {"got": written, "errors": errors}
