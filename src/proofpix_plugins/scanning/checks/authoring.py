"""Mistakes that make a valid package not work: rules an author needs before publishing.

- ``PPX-HOOK-PERMISSION``: a hook the bus only delivers to holders of a permission
  (``runtime/hooks/permissions.py``) while the manifest does not request it; every call would
  answer ``denied``.
- ``PPX-CONFIG-UNSATISFIABLE``: a ``config_schema`` property no value can satisfy (an empty
  ``enum``, ``minimum`` above ``maximum``, a ``const`` of the wrong type, a ``false`` schema …),
  or a ``required`` key the schema forbids; the plugin could never be configured.
- ``PPX-CONFIG-DEFAULT-INVALID``: a ``default`` that its own property schema refuses.
- ``PPX-CONFIG-REQUIRED-NO-DEFAULT``: a required key without a default: installs as
  ``needs_configuration`` until an admin sets it (a warning, often intended).

Findings point into ``plugin.json`` with the line the field is on. Nothing is executed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from proofpix_plugins.packages.config_schema import config_validator
from proofpix_plugins.packages.manifest import MANIFEST_NAME, Manifest
from proofpix_plugins.runtime.hooks.permissions import required_permissions
from proofpix_plugins.scanning.context import ScanContext
from proofpix_plugins.scanning.findings import Finding
from proofpix_plugins.scanning.rules import rule

#: JSON Schema ``type`` names and the Python values of each, as json.loads produces them.
_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}
#: (lower bound, upper bound, what) pairs that contradict each other when lower > upper.
_BOUNDS: Final = (
    ("minimum", "maximum", "minimum is above maximum"),
    ("minLength", "maxLength", "minLength is above maxLength"),
    ("minItems", "maxItems", "minItems is above maxItems"),
    ("minProperties", "maxProperties", "minProperties is above maxProperties"),
    ("minContains", "maxContains", "minContains is above maxContains"),
)


def _type_matches(value: Any, type_name: str) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, never to JSON Schema
        return type_name == "boolean"
    if type_name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, _TYPES.get(type_name, ()))


def _declared_types(schema: Mapping[str, Any]) -> list[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    return None


def unsatisfiable(schema: Any) -> str | None:
    """Why no JSON value can satisfy ``schema`` (one property's schema), or None.

    A best-effort static reading of the common contradictions, not a decision procedure:
    ``None`` means "no contradiction found", never "proven satisfiable".
    """
    if schema is False:
        return "the schema is false: no value is allowed"
    if not isinstance(schema, dict):
        return None
    types = _declared_types(schema)
    if types is not None and not types:
        return "type is an empty list"
    enum = schema.get("enum")
    if isinstance(enum, list):
        if not enum:
            return "enum is empty"
        if types is not None and not any(_type_matches(v, t) for v in enum for t in types):
            return f"no enum value has the type {' or '.join(types)}"
    if "const" in schema and types is not None and not any(
            _type_matches(schema["const"], t) for t in types):
        return f"const {json.dumps(schema['const'])[:60]} is not of type {' or '.join(types)}"
    if schema.get("not") == {} or schema.get("not") is True:
        return "not {} forbids every value"
    for low, high, what in _BOUNDS:
        lo, hi = _number(schema.get(low)), _number(schema.get(high))
        if lo is not None and hi is not None and lo > hi:
            return f"{what} ({lo} > {hi})"
    lo = _number(schema.get("exclusiveMinimum", schema.get("minimum")))
    hi = _number(schema.get("exclusiveMaximum", schema.get("maximum")))
    if lo is not None and hi is not None:
        if ("exclusiveMinimum" in schema or "exclusiveMaximum" in schema) and lo >= hi:
            return f"no number lies between {lo} and {hi} (exclusive)"
        if types == ["integer"] and math.floor(hi) < math.ceil(lo):
            return f"no integer lies between {lo} and {hi}"
    for key in ("allOf", "anyOf", "oneOf"):
        parts = schema.get(key)
        if isinstance(parts, list):
            if not parts and key != "allOf":
                return f"{key} is empty"
            problems = [unsatisfiable(p) for p in parts]
            if key == "allOf" and any(problems):
                return f"allOf: {next(p for p in problems if p)}"
            if key != "allOf" and parts and all(problems):
                return f"{key}: no alternative can be satisfied"
    return None


def _number(value: Any) -> float | None:
    """``value`` when it is a JSON number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _line_of(text: str, key: str, value: str | None = None, start: int = 0) -> int | None:
    """1-based line of ``"key"`` (followed by ``: "value"`` when given) in the manifest text."""
    if value is None:
        pattern = re.compile(rf'"{re.escape(key)}"\s*:')
    else:
        pattern = re.compile(rf'"{re.escape(key)}"\s*:\s*{re.escape(json.dumps(value))}')
    match = pattern.search(text, start)
    return None if match is None else text.count("\n", 0, match.start()) + 1


_SEGMENT: Final = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def manifest_line(text: str, field_path: str) -> int | None:
    """Best-effort 1-based line in the manifest text of a field path such as ``name`` or
    ``hooks[1].handler`` (a FieldError's ``field``); None when it cannot be found.

    A textual search, not a JSON parse with positions: each key is looked up after the previous
    one, and ``[i]`` skips to the i-th occurrence of the key that follows it.
    """
    pos = 0
    parts = _SEGMENT.findall(field_path)
    if not parts:
        return None
    found: int | None = None
    skip = 0
    for key, index in parts:
        if index:
            skip = int(index)
            continue
        pattern = re.compile(rf'"{re.escape(key)}"\s*:')
        match = None
        for _ in range(skip + 1):
            match = pattern.search(text, pos if match is None else match.end())
            if match is None:
                return found
        skip = 0
        assert match is not None
        pos = match.end()
        found = text.count("\n", 0, match.start()) + 1
    return found


@dataclass
class AuthoringCheck:
    id: str = "authoring"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("Every hook can reach the plugin with the permissions it requests, and the "
                    "config_schema can be satisfied (required keys without a default are named).")

    def run(self, ctx: ScanContext) -> list[Finding]:
        manifest = ctx.manifest
        if manifest is None or ctx.archive is None:
            return []
        text = ctx.archive.manifest_bytes.decode("utf-8", "replace")
        return [*self._hooks(manifest, text), *self._config(manifest, text)]

    @staticmethod
    def _hooks(manifest: Manifest, text: str) -> Iterator[Finding]:
        requested = set(manifest.permissions)
        for index, hook in enumerate(manifest.hooks):
            missing = sorted(required_permissions(hook.name) - requested)
            if missing:
                yield rule("PPX-HOOK-PERMISSION").finding(
                    f"hooks[{index}] {hook.name!r} is only delivered to plugins holding "
                    f"{', '.join(repr(p) for p in missing)}; add it to \"permissions\" "
                    "(every call answers 'denied' otherwise)",
                    file=MANIFEST_NAME, line=_line_of(text, "name", hook.name),
                    snippet=f'"name": "{hook.name}"')

    @staticmethod
    def _config(manifest: Manifest, text: str) -> Iterator[Finding]:
        schema = manifest.config_schema
        if not schema:
            return
        raw_props = schema.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        required = [k for k in schema.get("required", []) if isinstance(k, str)]
        start = text.find('"config_schema"')
        start = max(start, 0)
        for key, sub in props.items():
            where = _line_of(text, key, None, start)
            problem = unsatisfiable(sub)
            if problem:
                yield rule("PPX-CONFIG-UNSATISFIABLE").finding(
                    f"config_schema.properties.{key}: {problem}", file=MANIFEST_NAME, line=where)
                continue
            if isinstance(sub, dict) and "default" in sub:
                # The RE2 validator, as at install: a plugin's pattern is hostile input and
                # stock `re` backtracks (a ReDoS default hung the scan before this).
                errors = sorted(config_validator(sub).iter_errors(sub["default"]),
                                key=lambda e: list(e.path))
                if errors:
                    yield rule("PPX-CONFIG-DEFAULT-INVALID").finding(
                        f"config_schema.properties.{key}.default: {errors[0].message[:200]}",
                        file=MANIFEST_NAME, line=where)
        closed = schema.get("additionalProperties") is False
        for key in required:
            where = _line_of(text, key, None, start) or _line_of(text, "required", None, start)
            if key not in props:
                if closed:
                    yield rule("PPX-CONFIG-UNSATISFIABLE").finding(
                        f"config_schema.required names {key!r}, which is not a property while "
                        "additionalProperties is false", file=MANIFEST_NAME, line=where)
                continue
            sub = props[key]
            if isinstance(sub, dict) and "default" not in sub:
                yield rule("PPX-CONFIG-REQUIRED-NO-DEFAULT").finding(
                    f"config_schema: required key {key!r} has no default; the plugin installs "
                    "as needs_configuration until an admin sets it", file=MANIFEST_NAME,
                    line=where)
