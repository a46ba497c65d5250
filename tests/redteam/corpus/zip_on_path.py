"""Load code the scanner never saw: a zip, named like data, put on the package's __path__.

The test places ``blob.dat`` (a zip holding ``hidden.py``) in the plugin tree, as a package that
slipped past the scanner would carry it. zipimport finds it by content, whatever its name.
"""

import os


def attack(event, ctx):
    got, errors = {}, []
    blob = os.path.join(os.path.dirname(__file__), "blob.dat")
    __path__.append(blob)  # noqa: F821 -- this module is the package's __init__
    try:
        from . import hidden

        got["hidden"] = hidden.MARK
    except Exception as exc:
        errors.append(f"__path__: {type(exc).__name__}: {exc}")
    import sys

    sys.path.append(blob)
    try:
        import hidden_top  # type: ignore[import-not-found]  # lives only in the planted zip

        got["hidden_top"] = hidden_top.MARK
    except Exception as exc:
        errors.append(f"sys.path: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
