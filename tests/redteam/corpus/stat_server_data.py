"""stat() the server's data directory: sizes and times of its database, keys and log.

Landlock refuses opening these files, but not looking them up.
"""

import os


def attack(event, ctx):
    got, errors = {}, []
    for path in event["paths"]:
        try:
            st = os.stat(path)
            got[path] = {"size": st.st_size, "mtime": st.st_mtime}
        except Exception as exc:
            errors.append(f"{path}: {type(exc).__name__}")
    return {"got": got, "errors": errors}
