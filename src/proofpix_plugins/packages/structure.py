"""Package structure: the entry module exists and every declared hook handler is a top-level
function of it, found by parsing the source with :mod:`ast` (plugin code is never imported).

No top-level module may take a reserved name; the set is the runtime's
(``runtime/limits.RESERVED_TOP_LEVEL``), so what is published here the runtime loads.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping

from proofpix_plugins.errors import FieldError
from proofpix_plugins.packages.manifest import Manifest
from proofpix_plugins.runtime.limits import is_reserved_top_level


def entry_candidates(entry: str) -> tuple[str, str]:
    """Archive paths the entry module may live at: a package or a single module."""
    base = entry.replace(".", "/")
    return f"{base}/__init__.py", f"{base}.py"


def find_entry_file(entry: str, names: Collection[str]) -> str | None:
    """The archive path of the entry module, or None."""
    for candidate in entry_candidates(entry):
        if candidate in names:
            return candidate
    return None


def parse_source(data: bytes, filename: str) -> ast.Module:
    """Parse Python source strictly as UTF-8 (a coding cookie cannot change what we analyse)."""
    return ast.parse(data.decode("utf-8"), filename=filename)


def _decorated_hooks(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = []
    for deco in func.decorator_list:
        if (
            isinstance(deco, ast.Call)
            and isinstance(deco.func, ast.Attribute)
            and deco.func.attr == "hook"
            and deco.args
            and isinstance(deco.args[0], ast.Constant)
            and isinstance(deco.args[0].value, str)
        ):
            names.append(deco.args[0].value)
    return names


def _accepts_event_and_ctx(args: ast.arguments) -> bool:
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    kw_required = any(d is None for d in args.kw_defaults)
    return (len(positional) >= 2 or args.vararg is not None) and required <= 2 and not kw_required


def shadowing_errors(names: Collection[str], entry: str) -> list[FieldError]:
    """Top-level modules/packages (or ``.pth`` files) that would shadow a library module."""
    errors = []
    tops: set[str] = {entry.split(".")[0]}
    for name in names:
        parts = name.split("/")
        # Only regular modules and packages shadow: a plain directory (say assets/ or html/) is
        # at most a namespace portion, which never wins over a real package of the same name.
        if len(parts) == 1 and name.endswith(".py"):
            tops.add(name[:-3])
        elif len(parts) == 2 and parts[1] == "__init__.py":
            tops.add(parts[0])
        if name.endswith(".pth"):
            errors.append(FieldError(name, "is a .pth start-up file", "PPX-STRUCT-SHADOW"))
    for top in sorted(tops):
        if is_reserved_top_level(top):
            errors.append(FieldError(
                top, "shadows a standard-library, SDK, start-up or sandbox library module",
                "PPX-STRUCT-SHADOW", top,
            ))
    return errors


def check_structure(
    manifest: Manifest, sources: Mapping[str, bytes], names: Collection[str] | None = None
) -> list[FieldError]:
    """Errors in the package layout against its manifest.

    ``sources`` maps archive paths of Python files to their bytes; ``names`` lists every archive
    path (defaults to the keys of ``sources``).
    """
    all_names = set(sources) if names is None else set(names)
    errors = shadowing_errors(all_names, manifest.entry)
    entry_file = find_entry_file(manifest.entry, all_names)
    if entry_file is None or entry_file not in sources:
        pkg, mod = entry_candidates(manifest.entry)
        errors.append(FieldError(
            "entry", f"entry module {manifest.entry!r} not found (expected {pkg} or {mod})",
            "PPX-STRUCT-NO-ENTRY", manifest.entry,
        ))
        return errors
    try:
        tree = parse_source(sources[entry_file], entry_file)
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        errors.append(FieldError(entry_file, "entry module cannot be parsed", "PPX-SRC-SYNTAX"))
        return errors
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions[node.name] = node
    declared = manifest.hook_handlers()
    for index, hook in enumerate(manifest.hooks):
        field = f"hooks[{index}].handler"
        func = functions.get(hook.handler)
        if func is None:
            errors.append(FieldError(
                field, f"no top-level function {hook.handler!r} in {entry_file}",
                "PPX-STRUCT-NO-HANDLER", hook.handler,
            ))
        elif isinstance(func, ast.AsyncFunctionDef):
            errors.append(FieldError(field, f"{hook.handler!r} must be a plain (sync) function",
                                     "PPX-STRUCT-HANDLER-ASYNC", hook.handler))
        elif not _accepts_event_and_ctx(func.args):
            errors.append(FieldError(
                field, f"{hook.handler!r} must accept (event, ctx)", "PPX-STRUCT-HANDLER-SIGNATURE",
                hook.handler,
            ))
    for name, func in sorted(functions.items()):
        for hook_name in _decorated_hooks(func):
            if hook_name not in declared.get(name, []):
                errors.append(FieldError(
                    f"{entry_file}:{func.lineno}",
                    f"{name!r} is registered for {hook_name!r} but the manifest does not declare "
                    f"that hook for it",
                    "PPX-STRUCT-HOOK-MISMATCH", hook_name,
                ))
    return errors
