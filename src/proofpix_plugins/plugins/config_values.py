"""Plugin configuration: validated against the manifest's schema, defaults applied, secrets
encrypted at rest and redacted on read.

Only top-level properties marked ``"x-secret": true`` are secrets (the manifest model exposes
them). At rest a secret is the string ``fernet:<token>``; on read it is ``***``. Sending ``***``
back for a secret in a replacement keeps the stored value, so an admin can edit other fields
without re-typing credentials.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.packages.config_schema import config_validator, schema_problem
from proofpix_plugins.runtime.limits import WIRE_INT_MAX, WIRE_INT_MIN, wire_int_overflows
from proofpix_plugins.runtime.spec import REDACTED

_PREFIX = "fernet:"


class ConfigCipher:
    """Encrypts and decrypts secret config values with the platform's config key."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, value: Any) -> str:
        return _PREFIX + self._fernet.encrypt(orjson.dumps(value)).decode()

    def decrypt(self, stored: Any) -> Any:
        if not (isinstance(stored, str) and stored.startswith(_PREFIX)):
            return stored
        try:
            return orjson.loads(self._fernet.decrypt(stored[len(_PREFIX):].encode()))
        except InvalidToken:
            raise ValidationFailed("stored secret cannot be decrypted with this key") from None


def _field(path: Iterable[Any], root: str = "config") -> str:
    parts = [str(p) for p in path]
    return root + "".join(f".{p}" for p in parts)


def require_wire_values(values: Any, root: str) -> None:
    """Refuse data a worker could never receive (integers beyond int64/uint64), naming each
    field under ``root``: stored or passed on, it would fail every load or call instead."""
    overflows = wire_int_overflows(values)
    if overflows:
        raise ValidationFailed(
            f"{root} holds integers the plugin runtime cannot carry",
            errors=tuple(
                FieldError(_field(path, root),
                           f"integers must lie between {WIRE_INT_MIN} and {WIRE_INT_MAX}",
                           "wire-int-range")
                for path in overflows
            ),
        )


def apply_defaults(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill ``default`` of absent properties, recursing into nested objects."""
    out = copy.deepcopy(dict(values))
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return out
    for name, sub in props.items():
        if not isinstance(sub, Mapping):
            continue
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if isinstance(out.get(name), dict) and sub.get("type") == "object":
            out[name] = apply_defaults(sub, out[name])
    return out


def validate_config(schema: Mapping[str, Any] | None, values: Any) -> dict[str, Any]:
    """Validate ``values`` against ``schema`` and return them with defaults applied."""
    return check_config(schema, values)[0]


def check_config(
    schema: Mapping[str, Any] | None, values: Any, *, allow_missing: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Validate ``values`` (defaults applied) and name the top-level required keys they lack.

    With ``allow_missing`` an absent required key is not an error but reported (an install
    without its config becomes ``needs_configuration``); any other mismatch always is.
    """
    if not isinstance(values, dict):
        raise ValidationFailed(
            "config must be a JSON object",
            errors=(FieldError("config", "must be an object", "type"),),
        )
    require_wire_values(values, "config")
    if not schema:
        return copy.deepcopy(values), []
    # The scan refused bad schemas at install; a schema stored before a rule existed is
    # checked here too, so no reference cycle or backtracking regex ever runs.
    problem = schema_problem(schema)
    if problem:
        raise ValidationFailed(
            "the plugin's config_schema cannot be used",
            errors=(FieldError("config_schema", problem[1], problem[0]),),
        )
    filled = apply_defaults(schema, values)
    require_wire_values(filled, "config")
    try:
        errors = sorted(config_validator(schema).iter_errors(filled),
                        key=lambda e: [str(p) for p in e.absolute_path])
    except RecursionError:
        raise ValidationFailed(
            "config is nested too deeply for the plugin's config_schema",
            errors=(FieldError("config", "nested too deeply to validate", "depth"),),
        ) from None
    missing: list[str] = []
    if allow_missing:
        rest = []
        for e in errors:
            required = e.validator_value
            if e.validator == "required" and not e.absolute_path and isinstance(required, list):
                missing.extend(k for k in required if k not in filled and k not in missing)
            else:
                rest.append(e)
        errors = rest
    if errors:
        raise ValidationFailed(
            "config does not match the plugin's config_schema",
            errors=tuple(
                FieldError(_field(e.absolute_path), e.message[:300], str(e.validator))
                for e in errors[:50]
            ),
        )
    return filled, sorted(missing)


def seal(
    values: Mapping[str, Any],
    secret_keys: frozenset[str],
    cipher: ConfigCipher,
    previous_sealed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The at-rest form: secret values encrypted; ``***`` keeps the previous secret."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in secret_keys:
            if value == REDACTED and previous_sealed and key in previous_sealed:
                out[key] = previous_sealed[key]
            else:
                out[key] = cipher.encrypt(value)
        else:
            out[key] = value
    return out


def unseal(sealed: Mapping[str, Any], cipher: ConfigCipher) -> dict[str, Any]:
    return {k: cipher.decrypt(v) for k, v in sealed.items()}


def redact(values: Mapping[str, Any], secret_keys: frozenset[str]) -> dict[str, Any]:
    return {k: (REDACTED if k in secret_keys else v) for k, v in values.items()}


def restore_redacted(
    values: Mapping[str, Any], secret_keys: frozenset[str], current: Mapping[str, Any]
) -> dict[str, Any]:
    """Replace ``***`` placeholders with the current decrypted secret before validation."""
    out = dict(values)
    for key in secret_keys:
        if out.get(key) == REDACTED and key in current:
            out[key] = current[key]
    return out
