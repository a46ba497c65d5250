"""The configuration form of a plugin, generated from its ``config_schema``.

Each top-level property becomes one labelled field: strings, numbers and integers as inputs
(with the schema's bounds as hints), booleans as a checkbox, ``enum`` as a select, ``x-secret``
strings as a write-only password field that shows whether a value is set but never the value,
and anything else (arrays, objects) as a JSON text area. The browser's hints are a convenience:
the values go to ``PluginService.update_plugin_config``, whose validation against the schema is
the only one that counts; its errors are shown next to their fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from proofpix_plugins.errors import FieldError
from proofpix_plugins.runtime.spec import REDACTED

_REQUIRED = re.compile(r"^'(?P<name>[^']{1,200})' is a required property")
_MAX_FIELDS = 100


@dataclass
class Field:
    name: str
    label: str
    kind: str  # text | number | integer | boolean | enum | secret | json
    required: bool
    description: str = ""
    value: str = ""
    checked: bool = False
    options: list[str] = field(default_factory=list)
    is_set: bool = False
    hints: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def input_id(self) -> str:
        return "cfg-" + re.sub(r"[^A-Za-z0-9_-]", "_", self.name)


def _kind(prop: Mapping[str, Any]) -> str:
    if isinstance(prop.get("enum"), list) and prop["enum"] and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in prop["enum"]):
        return "enum"
    kind = prop.get("type")
    if prop.get("x-secret") is True:
        return "secret"
    if kind == "string":
        return "text"
    if kind in ("number", "integer", "boolean"):
        return str(kind)
    return "json"


def _hints(prop: Mapping[str, Any], kind: str) -> dict[str, str]:
    names = {"minimum": "min", "maximum": "max"} if kind in ("number", "integer") else {
        "minLength": "minlength", "maxLength": "maxlength"} if kind in ("text", "secret") else {}
    return {attr: str(prop[key]) for key, attr in names.items()
            if isinstance(prop.get(key), int | float) and not isinstance(prop.get(key), bool)}


def _shown(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2)
    return str(value)


def build_fields(schema: Mapping[str, Any] | None, values: Mapping[str, Any]) -> list[Field]:
    """One field per top-level property, filled from ``values`` (secrets redacted already)."""
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    fields = []
    for name, prop in list(props.items())[:_MAX_FIELDS]:
        if not isinstance(name, str) or not isinstance(prop, Mapping):
            continue
        kind = _kind(prop)
        current = values.get(name, prop.get("default"))
        title = prop.get("title")
        f = Field(
            name=name, label=title if isinstance(title, str) and title else name, kind=kind,
            required=name in required_names,
            description=str(prop.get("description") or "")[:500],
            hints=_hints(prop, kind),
        )
        if kind == "secret":
            # Write-only: whether a value exists, never what it is.
            f.is_set = name in values and values.get(name) is not None
        elif kind == "boolean":
            f.checked = current is True
        else:
            f.value = _shown(current, kind)
        if kind == "enum":
            f.options = [str(v) for v in prop["enum"]]
        fields.append(f)
    return fields


@dataclass
class Submitted:
    values: dict[str, Any]
    errors: dict[str, list[str]]


def _convert(f: Field, raw: str, enum_values: list[Any]) -> Any:
    if f.kind == "integer":
        return int(raw.strip())
    if f.kind == "number":
        number = float(raw.strip())
        return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() \
            else number
    if f.kind == "enum":
        by_text = {str(v): v for v in enum_values}
        if raw not in by_text:
            raise ValueError("choose one of the listed values")
        return by_text[raw]
    if f.kind == "json":
        return json.loads(raw)
    return raw


def read_form(schema: Mapping[str, Any] | None, fields: list[Field],
              form: Mapping[str, str]) -> Submitted:
    """The values a submitted form stands for; unparsable inputs are errors by field name.

    An empty optional field is left out (the schema's default applies); an empty secret keeps
    the stored one (sent as the redaction marker, which the service restores).
    """
    props = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for f in fields:
        raw = form.get(f.name, "")
        if f.kind == "boolean":
            values[f.name] = raw == "on"
            continue
        if f.kind == "secret":
            if raw:
                values[f.name] = raw
            elif f.is_set:
                values[f.name] = REDACTED
            continue
        if raw == "":
            continue
        enum_values = props.get(f.name, {}).get("enum", []) if isinstance(props, Mapping) else []
        try:
            values[f.name] = _convert(f, raw, enum_values)
        except (ValueError, RecursionError) as exc:
            message = str(exc) if f.kind == "enum" else f"is not a valid {f.kind} value"
            errors.setdefault(f.name, []).append(message)
        # Shown again as typed (never for secrets, which are not refilled).
        f.value = raw
    return Submitted(values, errors)


def attach_errors(fields: list[Field], errors: Sequence[FieldError],
                  extra: dict[str, list[str]] | None = None) -> list[str]:
    """Put the service's errors next to their fields; answer the ones that fit no field."""
    by_name = {f.name: f for f in fields}
    general: list[str] = []
    for field_name, messages in (extra or {}).items():
        if field_name in by_name:
            by_name[field_name].errors.extend(messages)
    for err in errors:
        key = _field_name(err)
        target = by_name.get(key) if key else None
        if target is None:
            general.append(f"{err.field}: {err.message}")
            continue
        # A secret's value must not come back in a message ("'hunter2' is too short").
        target.errors.append(_secret_message(err) if target.kind == "secret" else err.message)
    return general


def _field_name(err: FieldError) -> str | None:
    path = err.field
    if path == "config":
        match = _REQUIRED.match(err.message)
        return match.group("name") if match else None
    if path.startswith("config."):
        return path[len("config."):].split(".", 1)[0].split("[", 1)[0]
    return None


def _secret_message(err: FieldError) -> str:
    if err.rule == "required":
        return "is required"
    return f"does not satisfy the rule '{err.rule}'" if err.rule else "is not valid"
