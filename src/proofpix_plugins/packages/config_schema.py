"""A plugin's ``config_schema``: what the scanner accepts, and the validator the API runs it with.

The schema comes from a third-party package and is evaluated in the API process, against input
from an organization's admin. Two things in JSON Schema can stall that process, and both are
refused when the package is scanned (and again before any stored schema is used):

- **Reference cycles.** ``{"$ref": "#"}`` at the root, or ``$defs`` entries referring to each
  other, apply a schema to the *same* instance again and again: jsonschema recurses until
  ``RecursionError``. A cycle through keywords that step into the instance (``properties``,
  ``items``, …) is fine (a tree-shaped config), since the instance's depth bounds it; a cycle
  through in-place keywords (``$ref``, ``allOf``/``anyOf``/``oneOf``, ``not``,
  ``if``/``then``/``else``, ``dependentSchemas``) is refused (``PPX-MAN-CONFIG-SCHEMA-REF-CYCLE``).
  ``$dynamicRef`` is refused outright: a config needs no dynamic scope.
- **Regular expressions.** ``pattern``, ``patternProperties`` and the ``regex`` format run
  plugin-supplied expressions; Python's backtracking ``re`` takes exponential time on patterns
  such as ``^(a+)+$``. The validator here matches with RE2 (linear time), and a pattern RE2
  cannot compile (backreferences, look-around) is refused (``PPX-MAN-CONFIG-SCHEMA-REGEX``).
  jsonschema's ``unevaluatedProperties`` matches ``patternProperties`` with ``re`` internally,
  so the two are not accepted together.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import unquote

import re2
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator

__all__ = [
    "RULE_INVALID",
    "RULE_REF_CYCLE",
    "RULE_REGEX",
    "config_validator",
    "schema_problem",
]

RULE_INVALID: Final = "PPX-MAN-CONFIG-SCHEMA"
RULE_REF_CYCLE: Final = "PPX-MAN-CONFIG-SCHEMA-REF-CYCLE"
RULE_REGEX: Final = "PPX-MAN-CONFIG-SCHEMA-REGEX"

#: Keywords that apply a subschema to the instance itself (no step into it).
_IN_PLACE_ONE: Final = ("not", "if", "then", "else")
_IN_PLACE_MANY: Final = ("allOf", "anyOf", "oneOf")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is our error to report, not stderr noise


@functools.lru_cache(maxsize=1024)
def _re2(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def _regex_problem(pattern: str) -> str | None:
    try:
        _re2(pattern)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        return f"{detail}"[:200]
    return None


def _search(pattern: str, text: str) -> bool:
    return _re2(pattern).search(text) is not None


# -- scan-time rules -------------------------------------------------------------------------


def schema_problem(schema: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(rule id, message)`` saying why ``schema`` is not an acceptable config schema, or None."""
    if schema.get("type") != "object":
        return RULE_INVALID, "must describe an object: top-level \"type\": \"object\""
    pattern_properties = unevaluated = False
    for path, node in _walk(schema, ""):
        if not isinstance(node, dict):
            continue
        where = path or "/"
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return RULE_INVALID, f"at {where}: only local $ref ('#/...') is allowed, got {ref!r}"
        if "$dynamicRef" in node:
            return RULE_INVALID, f"at {where}: $dynamicRef is not supported in a config schema"
        if "x-secret" in node and not isinstance(node["x-secret"], bool):
            return RULE_INVALID, f"at {where}: x-secret must be true or false"
        pattern = node.get("pattern")
        if isinstance(pattern, str) and (problem := _regex_problem(pattern)):
            return RULE_REGEX, f"at {where}/pattern: RE2 cannot use {pattern!r}: {problem}"
        props = node.get("patternProperties")
        if isinstance(props, dict):
            pattern_properties = pattern_properties or bool(props)
            for key in props:
                if problem := _regex_problem(key):
                    return (RULE_REGEX,
                            f"at {where}/patternProperties: RE2 cannot use {key!r}: {problem}")
        unevaluated = unevaluated or "unevaluatedProperties" in node
    if pattern_properties and unevaluated:
        return (RULE_REGEX, "unevaluatedProperties cannot be combined with patternProperties "
                "(their patterns would run on a backtracking engine)")
    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "/"
        return (RULE_INVALID,
                f"not a valid JSON Schema (draft 2020-12) at {where}: {exc.message[:200]}")
    return _reference_problem(schema)


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    stack: list[tuple[str, Any]] = [(path, node)]
    while stack:
        here, current = stack.pop()
        yield here, current
        if isinstance(current, dict):
            stack.extend((f"{here}/{k}", v) for k, v in current.items())
        elif isinstance(current, list):
            stack.extend((f"{here}/{i}", v) for i, v in enumerate(current))


def _reference_problem(schema: Mapping[str, Any]) -> tuple[str, str] | None:
    """Resolve every local ``$ref`` and refuse a cycle of in-place applications."""
    # Every subschema (a dict) with its JSON pointer and the resource ($id) it belongs to.
    nodes: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    stack: list[tuple[str, Any, dict[str, Any] | None]] = [("", schema, None)]
    while stack:
        path, node, resource = stack.pop()
        if isinstance(node, dict):
            own = node if (resource is None or isinstance(node.get("$id"), str)) else resource
            nodes[id(node)] = (path, node, own)
            stack.extend((f"{path}/{k}", v, own) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}/{i}", v, resource) for i, v in enumerate(node))
    edges: dict[int, list[int]] = {}
    for key, (path, node, resource) in nodes.items():
        out: list[int] = []
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = _resolve(resource, ref)
            if target is None:
                return RULE_INVALID, f"at {path or '/'}: $ref {ref!r} does not resolve"
            out.append(id(target))
        out.extend(id(node[k]) for k in _IN_PLACE_ONE if isinstance(node.get(k), dict))
        for k in _IN_PLACE_MANY:
            if isinstance(node.get(k), list):
                out.extend(id(s) for s in node[k] if isinstance(s, dict))
        deps = node.get("dependentSchemas")
        if isinstance(deps, dict):
            out.extend(id(s) for s in deps.values() if isinstance(s, dict))
        edges[key] = out
    # Iterative depth-first search: grey = on the current path.
    colour: dict[int, int] = {}
    for start in edges:
        if colour.get(start):
            continue
        colour[start] = 1
        path_stack: list[tuple[int, Iterator[int]]] = [(start, iter(edges[start]))]
        while path_stack:
            current, children = path_stack[-1]
            child = next(children, None)
            if child is None:
                colour[current] = 2
                path_stack.pop()
            elif colour.get(child) == 1:
                where = nodes[child][0] or "/"
                return (RULE_REF_CYCLE, f"at {where}: $ref leads back to this schema without "
                        "stepping into the value (an endless reference cycle)")
            elif not colour.get(child):
                colour[child] = 1
                path_stack.append((child, iter(edges.get(child, ()))))
    return None


def _resolve(resource: dict[str, Any], ref: str) -> dict[str, Any] | None:
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return _anchor(resource, fragment)
    node: Any = resource
    for raw in fragment.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, dict) else None


def _anchor(resource: dict[str, Any], name: str) -> dict[str, Any] | None:
    for _path, node in _walk(resource, ""):
        if isinstance(node, dict) and node.get("$anchor") == name:
            return node
    return None


# -- the validator ---------------------------------------------------------------------------


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any,
             ) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any,
                        ) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any,
                           schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = sorted(
        (k for k in instance if k not in known and not any(_search(p, k) for p in patterns)),
        key=str,
    )
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        yield ValidationError(
            "Additional properties are not allowed ("
            + ", ".join(repr(k) for k in extras)
            + (" was" if len(extras) == 1 else " were") + " unexpected)"
        )


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("regex", raises=re2.error)
def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        _re2(instance)
    return True


# jsonschema's keyword functions take the validator untyped; its stubs leave extend() so.
_RE2Validator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties,
     "additionalProperties": _additional_properties},
)


def config_validator(schema: Mapping[str, Any]) -> Validator:
    """A draft 2020-12 validator for a schema :func:`schema_problem` accepted: RE2 runs every
    plugin-supplied pattern, and ``format`` asserts ``regex`` only (the other formats stay
    annotations, as draft 2020-12 defines them)."""
    validator: Validator = _RE2Validator(dict(schema), format_checker=_FORMATS)
    return validator
