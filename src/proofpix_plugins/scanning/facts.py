"""One pass over a module's AST collecting what the code-level checks look at.

Walking each tree once (iteratively: hostile code may nest deeply) and sharing the result keeps a
scan cheap. Names are resolved through the module's import aliases, so ``import os as o;
o.system(...)`` is seen as ``os.system`` and ``from subprocess import run as r`` as
``subprocess.run``. This is a best-effort static view; the sandbox is the enforcement.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

_SCOPES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_IMPORTERS = frozenset({"__import__", "importlib.import_module", "builtins.__import__",
                        "importlib.__import__"})


@dataclass
class CallSite:
    node: ast.Call
    #: Resolved dotted name of the callee (``os.system``, ``eval``), if it is a plain name chain.
    name: str | None


@dataclass
class CodeFacts:
    #: Modules imported (statically or via a literal import_module/__import__), with the node.
    imports: list[tuple[str, ast.AST]] = field(default_factory=list)
    #: Dotted names referenced through attribute chains or from-imports (``os.system``).
    refs: list[tuple[str, ast.AST]] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    attributes: list[ast.Attribute] = field(default_factory=list)
    names: list[ast.Name] = field(default_factory=list)
    subscripts: list[ast.Subscript] = field(default_factory=list)
    #: str/bytes constants that are not docstrings.
    strings: list[ast.Constant] = field(default_factory=list)
    #: Simple statements (the unit chr()-chain counting works on).
    simple_statements: list[ast.stmt] = field(default_factory=list)
    assignments: list[tuple[str, ast.expr]] = field(default_factory=list)
    #: Names that hold the hook context: parameters annotated HookContext, and ``ctx``.
    ctx_names: set[str] = field(default_factory=lambda: {"ctx"})
    aliases: dict[str, str] = field(default_factory=dict)

    def dotted(self, node: ast.AST) -> str | None:
        """Resolve ``a.b.c`` through import aliases; None for anything but a name chain."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            base = self.aliases.get(node.id, node.id)
        elif isinstance(node, ast.Call) and (literal := self.literal_import(node)):
            base = literal
        else:
            return None
        return ".".join([base, *reversed(parts)])

    def literal_import(self, call: ast.Call) -> str | None:
        """``__import__("os")`` / ``importlib.import_module("os")`` → ``"os"``."""
        func = call.func
        name = None
        if isinstance(func, ast.Name):
            name = self.aliases.get(func.id, func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            name = f"{self.aliases.get(func.value.id, func.value.id)}.{func.attr}"
        if name in _IMPORTERS and call.args:
            arg = call.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return arg.value
        return None


def const_text(node: ast.Constant) -> str:
    """The text of a str/bytes constant (bytes as latin-1, so every byte is one character)."""
    value = node.value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else ""


def _docstring_ids(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, _SCOPES) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                ids.add(id(first.value))
    return ids


def _is_hook_context(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.rsplit(".", 1)[-1] == "HookContext"
    if isinstance(annotation, ast.Name):
        return annotation.id == "HookContext"
    return isinstance(annotation, ast.Attribute) and annotation.attr == "HookContext"


_SIMPLE = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)


def collect_facts(tree: ast.Module) -> CodeFacts:
    facts = CodeFacts()
    nodes = list(ast.walk(tree))
    # Aliases first: resolution of every later reference depends on them.
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                facts.imports.append((alias.name, node))
                if alias.asname:
                    facts.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    facts.aliases.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            facts.imports.append((node.module, node))
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                facts.refs.append((full, node))
                facts.aliases[alias.asname or alias.name] = full
    docstrings = _docstring_ids(tree)
    for node in nodes:
        if isinstance(node, ast.Call):
            facts.calls.append(CallSite(node, facts.dotted(node.func)))
            literal = facts.literal_import(node)
            if literal:
                facts.imports.append((literal, node))
        elif isinstance(node, ast.Attribute):
            facts.attributes.append(node)
            name = facts.dotted(node)
            if name:
                facts.refs.append((name, node))
        elif isinstance(node, ast.Name):
            facts.names.append(node)
        elif isinstance(node, ast.Subscript):
            facts.subscripts.append(node)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str | bytes) and id(node) not in docstrings:
                facts.strings.append(node)
        elif isinstance(node, ast.arg) and _is_hook_context(node.annotation):
            facts.ctx_names.add(node.arg)
        if isinstance(node, _SIMPLE):
            facts.simple_statements.append(node)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    facts.assignments.append((target.id, node.value))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            if isinstance(node.target, ast.Name):
                facts.assignments.append((node.target.id, node.value))
        elif isinstance(node, ast.NamedExpr):
            facts.assignments.append((node.target.id, node.value))
    return facts
