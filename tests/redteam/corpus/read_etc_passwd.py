"""Read the host's /etc/passwd and /etc/shadow."""


def attack(event, ctx):
    got, errors = {}, []
    for path in ("/etc/passwd", "/etc/shadow", "/etc/hostname"):
        try:
            with open(path) as fh:
                got[path] = fh.read()
        except Exception as exc:
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
