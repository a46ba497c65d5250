"""One pass over a module's AST collecting what the code-level checks look at.

Walking each tree once (iteratively: hostile code may nest deeply) and sharing the result keeps a
scan cheap. Names are resolved through the module's import aliases, so ``import os as o;
o.system(...)`` is seen as ``os.system`` and ``from subprocess import run as r`` as
``subprocess.run``. This is a best-effort static view; the sandbox is the enforcement.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass, field

_SCOPES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_IMPORTERS = frozenset({"__import__", "importlib.import_module", "builtins.__import__",
                        "importlib.__import__"})
#: Statements that hold no other statements: the unit chr()-chain counting works on.
_SIMPLE = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)


@dataclass
class CallSite:
    node: ast.Call
    #: Resolved dotted name of the callee (``os.system``, ``eval``), if it is a plain name chain.
    name: str | None
    #: The innermost simple statement holding the call, if any.
    statement: ast.stmt | None = None


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
    #: (name, value) for plain-name assignments (taint tracking).
    assignments: list[tuple[str, ast.expr]] = field(default_factory=list)
    #: (name, value) for anything that names a value: assignment targets (names, attributes,
    #: constant subscripts), keyword arguments and constant dict keys (secrets check).
    named_values: list[tuple[str, ast.expr]] = field(default_factory=list)
    #: Comprehensions iterating over a literal list/tuple, with their statement.
    comprehensions: list[tuple[ast.comprehension, ast.stmt | None]] = field(default_factory=list)
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


def _is_hook_context(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.rsplit(".", 1)[-1] == "HookContext"
    if isinstance(annotation, ast.Name):
        return annotation.id == "HookContext"
    return isinstance(annotation, ast.Attribute) and annotation.attr == "HookContext"


def _target_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    return None


def _subclasses(base: type[ast.AST]) -> frozenset[type[ast.AST]]:
    out: set[type[ast.AST]] = set()
    todo = [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in out:
                out.add(sub)
                todo.append(sub)
    return frozenset(out)


_STMT_TYPES = _subclasses(ast.stmt)
_SIMPLE_TYPES = frozenset(_SIMPLE)
_SCOPE_TYPES = frozenset(_SCOPES)


#: Fields that hold only Load/Store/Del and operator nodes (a third of all nodes; no fact).
_LEAF_FIELDS = frozenset({"ctx", "op", "ops"})
_fields_to_walk: dict[type[ast.AST], tuple[str, ...]] = {}


def _walk(tree: ast.Module) -> list[tuple[ast.AST, ast.stmt | None]]:
    """Breadth-first (parents first, no recursion), each node with its simple statement.

    Hand-inlined ``ast.iter_child_nodes`` and exact-type tests: this loop runs once per node of
    every file scanned. Context and operator nodes are left out.
    """
    out: list[tuple[ast.AST, ast.stmt | None]] = []
    todo: deque[tuple[ast.AST, ast.stmt | None]] = deque([(tree, None)])
    push = todo.append
    ast_type = ast.AST
    fields_of = _fields_to_walk
    while todo:
        node, stmt = todo.popleft()
        kind = type(node)
        if kind in _STMT_TYPES:
            stmt = node if kind in _SIMPLE_TYPES else None  # type: ignore[assignment]
        out.append((node, stmt))
        fields = fields_of.get(kind)
        if fields is None:
            fields = fields_of[kind] = tuple(f for f in kind._fields if f not in _LEAF_FIELDS)
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast_type):
                        push((item, stmt))
            elif isinstance(value, ast_type):
                push((value, stmt))
    return out


def _note_docstring(node: ast.AST, docstrings: set[int]) -> None:
    body = getattr(node, "body", None)
    if body:
        first = body[0]
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            docstrings.add(id(first.value))


def _collect_imports(facts: CodeFacts, nodes: list[tuple[ast.AST, ast.stmt | None]]) -> None:
    for node, _ in nodes:
        kind = type(node)
        if kind is ast.Import:
            for alias in node.names:  # type: ignore[attr-defined]
                facts.imports.append((alias.name, node))
                if alias.asname:
                    facts.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    facts.aliases.setdefault(top, top)
        elif kind is ast.ImportFrom:
            assert isinstance(node, ast.ImportFrom)
            if node.level == 0 and node.module:
                facts.imports.append((node.module, node))
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    facts.refs.append((full, node))
                    facts.aliases[alias.asname or alias.name] = full


def collect_facts(tree: ast.Module) -> CodeFacts:
    facts = CodeFacts()
    nodes = _walk(tree)
    # Aliases first: resolution of every later reference depends on them.
    _collect_imports(facts, nodes)
    docstrings: set[int] = set()
    named = facts.named_values
    for node, stmt in nodes:
        kind = type(node)
        # Exact type tests in order of frequency; isinstance() per node is measurably slower.
        if kind is ast.Name:
            facts.names.append(node)  # type: ignore[arg-type]
        elif kind is ast.Constant:
            # Breadth-first order guarantees the scope marked its docstring before we get here.
            value = node.value  # type: ignore[attr-defined]
            if type(value) in (str, bytes) and id(node) not in docstrings:
                facts.strings.append(node)  # type: ignore[arg-type]
        elif kind is ast.Attribute:
            facts.attributes.append(node)  # type: ignore[arg-type]
            name = facts.dotted(node)
            if name:
                facts.refs.append((name, node))
        elif kind is ast.Call:
            assert isinstance(node, ast.Call)
            facts.calls.append(CallSite(node, facts.dotted(node.func), stmt))
            literal = facts.literal_import(node)
            if literal:
                facts.imports.append((literal, node))
        elif kind is ast.Subscript:
            facts.subscripts.append(node)  # type: ignore[arg-type]
        elif kind is ast.arg:
            assert isinstance(node, ast.arg)
            if _is_hook_context(node.annotation):
                facts.ctx_names.add(node.arg)
        elif kind is ast.keyword:
            assert isinstance(node, ast.keyword)
            if node.arg:
                named.append((node.arg, node.value))
        elif kind is ast.Dict:
            assert isinstance(node, ast.Dict)
            named.extend((k.value, v) for k, v in zip(node.keys, node.values, strict=True)
                         if isinstance(k, ast.Constant) and isinstance(k.value, str))
        elif kind is ast.comprehension:
            assert isinstance(node, ast.comprehension)
            if isinstance(node.iter, ast.List | ast.Tuple):
                facts.comprehensions.append((node, stmt))
        elif kind is ast.Assign:
            assert isinstance(node, ast.Assign)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    facts.assignments.append((target.id, node.value))
                if (tname := _target_name(target)) is not None:
                    named.append((tname, node.value))
        elif kind is ast.AnnAssign or kind is ast.AugAssign:
            assert isinstance(node, ast.AnnAssign | ast.AugAssign)
            if node.value is not None:
                if isinstance(node.target, ast.Name):
                    facts.assignments.append((node.target.id, node.value))
                if (tname := _target_name(node.target)) is not None:
                    named.append((tname, node.value))
        elif kind is ast.NamedExpr:
            assert isinstance(node, ast.NamedExpr)
            facts.assignments.append((node.target.id, node.value))
        elif kind in _SCOPE_TYPES:
            _note_docstring(node, docstrings)
    return facts
