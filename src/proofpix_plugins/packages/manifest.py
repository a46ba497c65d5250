"""The ``plugin.json`` manifest (SPEC §2): a strict pydantic model, a parser reporting every error.

``parse_manifest`` is the only way manifest bytes become a :class:`Manifest`. It rejects duplicate
JSON keys (a classic smuggling trick: two parsers disagree on which value wins), non-finite numbers
and any unknown field, and reports each problem as a ``FieldError`` with the field path
(``hooks[0].name``), a stable rule id (``PPX-MAN-*``) and the offending value.

Longer than our ~400-line norm on purpose: one model of every field, and the reporter that turns
pydantic's errors into rule ids, which must change together; the rules it enforces live in
``runtime/limits.py`` and ``runtime/egress/hosts.py``, the config-schema checks in
``config_schema.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import semver
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from proofpix_plugins.errors import FieldError
from proofpix_plugins.packages.config_schema import schema_problem
from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.permissions import Permission
from proofpix_plugins.runtime import limits
from proofpix_plugins.runtime.egress.address import parse_address
from proofpix_plugins.runtime.egress.hosts import HostSyntaxError, parse_allow_entry

MANIFEST_NAME: Final = "plugin.json"
MAX_MANIFEST_BYTES: Final = 256 * 1024
#: Deeper JSON than this is refused before any recursive processing can blow the stack.
MAX_JSON_DEPTH: Final = 32

PluginType = Literal["processor", "connector", "analyzer", "utility"]
Category = Literal[
    "metadata", "privacy", "integration", "image", "workflow", "security", "analytics", "other"
]
PLUGIN_TYPES: Final[tuple[str, ...]] = ("processor", "connector", "analyzer", "utility")
CATEGORIES: Final[tuple[str, ...]] = (
    "metadata", "privacy", "integration", "image", "workflow", "security", "analytics", "other",
)

_ID_PART = r"[a-z0-9][a-z0-9-]{1,23}"
_PLUGIN_ID = re.compile(rf"({_ID_PART})\.({_ID_PART})")
#: ``publisher.name``: what a plugin id looks like wherever one is read (manifest, URL path).
PLUGIN_ID_PATTERN: Final = _PLUGIN_ID.pattern
#: A key that ``format_loc`` can show after a dot rather than quoted.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAG = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _rule(rule: str, message: str) -> PydanticCustomError:
    # The error "type" is our stable rule id; parse_manifest passes it through unchanged.
    return PydanticCustomError(rule, message)


def _check_plugin_id(value: str) -> str:
    if not _PLUGIN_ID.fullmatch(value):
        raise _rule(
            "PPX-MAN-ID",
            "must be 'publisher.name', each part 2-24 characters: [a-z0-9] then [a-z0-9-]",
        )
    return value


def _check_handler(value: str) -> str:
    if not limits.is_handler_name(value):
        raise _rule(
            "PPX-MAN-HANDLER",
            "must be a Python function name (ASCII identifier, at most "
            f"{limits.HANDLER_MAX_LENGTH} characters)",
        )
    return value


def _check_hook_name(value: str) -> str:
    if not limits.is_hook_name(value):
        raise _rule(
            "PPX-MAN-HOOK-NAME",
            f"must look like 'scope:event' (lowercase, ^{limits.HOOK_NAME_PATTERN.pattern}$, "
            f"at most {limits.HOOK_NAME_MAX_LENGTH} characters)",
        )
    return value


def _check_specifier(value: str) -> str:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise _rule(
            "PPX-MAN-SPECIFIER", "must be a PEP 440 version specifier such as '>=1.0,<2'"
        ) from None
    return value


def _check_url(value: str) -> str:
    parts = urlsplit(value) if len(value) <= 2048 else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or ord(c) < 32 for c in value)
    ):
        raise _rule("PPX-MAN-URL", "must be an absolute http(s) URL of at most 2048 characters")
    return value


def _check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise _rule("PPX-MAN-EMAIL", "must be an email address")
    return value


def _check_tag(value: str) -> str:
    if not _TAG.fullmatch(value):
        raise _rule("PPX-MAN-TAG", "must be 1-32 characters: [a-z0-9] then [a-z0-9-]")
    return value


def is_valid_host_pattern(value: str) -> bool:
    """``example.com`` or ``*.example.com``: DNS names only, no IP literals, ports or schemes.

    First the egress guard's own rule (``parse_allow_entry``), so nothing is published that the
    guard would refuse at run time. Then the manifest's stricter policy, because people read
    these entries (reviewers, the admin granting ``http``) and grants store them verbatim and
    compare them as strings on upgrade: the entry must already be in canonical form (lower case,
    ASCII, no trailing dot), so one host has one spelling; no IP literal, since an admin can
    judge a name, not an address; no ``_``, which host names (RFC 1123) do not use though DNS
    carries it; and at least two labels, so not ``localhost`` or a bare intranet name.
    """
    try:
        host, wildcard = parse_allow_entry(value)
    except HostSyntaxError:
        return False
    name = value[2:] if wildcard else value
    return (
        host == name
        and parse_address(host) is None
        and "_" not in host
        and host.count(".") >= 1
    )


def _check_host(value: str) -> str:
    if not is_valid_host_pattern(value):
        raise _rule(
            "PPX-MAN-NETWORK-HOST",
            "must be a lowercase DNS host name ('api.example.com') or a wildcard with at least "
            "two labels ('*.example.com'); no scheme, port, path or IP address",
        )
    return value


PluginId = Annotated[str, AfterValidator(_check_plugin_id)]
HookName = Annotated[str, AfterValidator(_check_hook_name)]
Specifier = Annotated[str, AfterValidator(_check_specifier)]
Url = Annotated[str, AfterValidator(_check_url)]
HostPattern = Annotated[str, AfterValidator(_check_host)]
Tag = Annotated[str, AfterValidator(_check_tag)]


class _Strict(BaseModel):
    # strict: "50" is not a priority and true is not a number; frozen: a parsed manifest is a fact.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Author(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    email: Annotated[str, AfterValidator(_check_email)] | None = None
    url: Url | None = None


class Hook(_Strict):
    name: HookName
    handler: Annotated[str, AfterValidator(_check_handler)]
    priority: Annotated[
        int, Field(ge=limits.PRIORITY_MIN, le=limits.PRIORITY_MAX)
    ] = limits.PRIORITY_DEFAULT


class Network(_Strict):
    allow: Annotated[list[HostPattern], Field(max_length=100)] = Field(default_factory=list)


class Engines(_Strict):
    proofpix: Specifier | None = None
    python: Specifier | None = None


class Resources(_Strict):
    memory_mb: Annotated[
        int, Field(ge=limits.MEMORY_MB_MIN, le=limits.MEMORY_MB_MAX)
    ] = limits.MEMORY_MB_DEFAULT
    timeout_ms: Annotated[
        int, Field(ge=limits.TIMEOUT_MS_MIN, le=limits.TIMEOUT_MS_MAX)
    ] = limits.TIMEOUT_MS_DEFAULT
    cpu_seconds: Annotated[float, Field(gt=0, le=limits.CPU_SECONDS_MAX)] | None = None


class Manifest(_Strict):
    """A validated ``plugin.json``."""

    id: PluginId
    name: Annotated[str, Field(min_length=3, max_length=100)]
    version: str
    type: PluginType
    description: Annotated[str, Field(max_length=2000)] = ""
    category: Category = "other"
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    license: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    author: Author | None = None
    homepage: Url | None = None
    entry: str = limits.ENTRY_DEFAULT
    hooks: Annotated[list[Hook], Field(max_length=50)] = Field(default_factory=list)
    permissions: list[Permission] = Field(default_factory=list)
    network: Network = Field(default_factory=Network)
    config_schema: dict[str, Any] | None = None
    engines: Engines = Field(default_factory=Engines)
    dependencies: Annotated[dict[PluginId, Specifier], Field(max_length=50)] = Field(
        default_factory=dict
    )
    resources: Resources = Field(default_factory=Resources)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if value.strip() != value or any(ord(c) < 32 for c in value):
            raise _rule(
                "PPX-MAN-NAME", "must not have leading/trailing spaces or control characters"
            )
        return value

    @field_validator("version")
    @classmethod
    def _semantic_version(cls, value: str) -> str:
        try:
            parsed = semver.Version.parse(value) if len(value) <= 64 else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.build is not None:
            raise _rule(
                "PPX-MAN-VERSION",
                "must be a semantic version MAJOR.MINOR.PATCH with an optional -prerelease",
            )
        return value

    @field_validator("entry")
    @classmethod
    def _importable_entry(cls, value: str) -> str:
        if not limits.is_entry_module(value):
            raise _rule(
                "PPX-MAN-ENTRY",
                "must be an importable module path such as 'plugin' or 'pkg.main' (at most "
                f"{limits.ENTRY_MAX_PARTS} parts, {limits.ENTRY_MAX_LENGTH} characters)",
            )
        return value

    @field_validator("permissions")
    @classmethod
    def _no_duplicate_permissions(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise _rule("PPX-MAN-PERMISSION-DUPLICATE", "lists a permission more than once")
        return value

    @field_validator("tags")
    @classmethod
    def _no_duplicate_tags(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise _rule("PPX-MAN-TAG", "lists a tag more than once")
        return value

    @field_validator("config_schema")
    @classmethod
    def _json_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            problem = schema_problem(value)
            if problem:
                raise _rule(*problem)
        return value

    @property
    def publisher(self) -> str:
        """The namespace part of the id; must match the submitting developer's namespace."""
        return self.id.split(".", 1)[0]

    @property
    def semver(self) -> semver.Version:
        return semver.Version.parse(self.version)

    def secret_config_keys(self) -> frozenset[str]:
        """Top-level config properties marked ``"x-secret": true``."""
        return secret_keys_of(self.config_schema)

    def hook_handlers(self) -> dict[str, list[str]]:
        """Handler function name → hook names it serves, per the manifest."""
        out: dict[str, list[str]] = {}
        for hook in self.hooks:
            out.setdefault(hook.handler, []).append(hook.name)
        return out


def secret_keys_of(config_schema: Any) -> frozenset[str]:
    """Top-level properties of a config schema marked ``"x-secret": true``.

    Takes the raw schema so stored manifests (plain JSON) need no re-validation.
    """
    props = config_schema.get("properties") if isinstance(config_schema, dict) else None
    if not isinstance(props, dict):
        return frozenset()
    return frozenset(
        k for k, v in props.items() if isinstance(v, dict) and v.get("x-secret") is True
    )


def _json_depth_exceeds(text: str, limit: int) -> bool:
    # Counting brackets outside strings is enough: it only has to bound what json.loads recurses on.
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


_GENERIC_RULES: Final[dict[str, str]] = {
    "missing": "PPX-MAN-REQUIRED",
    "extra_forbidden": "PPX-MAN-UNKNOWN-FIELD",
    "string_too_short": "PPX-MAN-LENGTH",
    "string_too_long": "PPX-MAN-LENGTH",
    "too_short": "PPX-MAN-LENGTH",
    "too_long": "PPX-MAN-LENGTH",
    "greater_than": "PPX-MAN-RANGE",
    "greater_than_equal": "PPX-MAN-RANGE",
    "less_than": "PPX-MAN-RANGE",
    "less_than_equal": "PPX-MAN-RANGE",
    "finite_number": "PPX-MAN-RANGE",
}
_ENUM_RULES: Final[dict[str, str]] = {
    "type": "PPX-MAN-TYPE",
    "category": "PPX-MAN-CATEGORY",
    "permissions": "PPX-MAN-PERMISSION",
}


def _rule_for(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind.startswith("PPX-"):
        return kind
    if kind in _GENERIC_RULES:
        return _GENERIC_RULES[kind]
    if kind in ("literal_error", "enum"):
        root = str(error["loc"][0]) if error["loc"] else ""
        return _ENUM_RULES.get(root, "PPX-MAN-ENUM")
    return "PPX-MAN-WRONG-TYPE"


def format_loc(loc: Sequence[int | str]) -> str:
    """``("hooks", 0, "name")`` → ``hooks[0].name``; odd keys quoted: ``dependencies["a.b"]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += "(key)"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(manifest)"


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        rule = _rule_for(error)
        value = None if error["type"] == "missing" else error.get("input")
        if isinstance(value, dict | list):
            value = json.dumps(value)[:200]
        errors.append(FieldError(format_loc(error["loc"]), error["msg"], rule, value))
    return errors


def _cross_field_errors(manifest: Manifest) -> list[FieldError]:
    errors: list[FieldError] = []
    if manifest.network.allow and "http" not in manifest.permissions:
        errors.append(FieldError(
            "network.allow", "hosts are listed but the 'http' permission is not requested",
            "PPX-MAN-NETWORK-WITHOUT-HTTP",
        ))
    seen: set[tuple[str, str]] = set()
    for index, hook in enumerate(manifest.hooks):
        if (hook.name, hook.handler) in seen:
            errors.append(FieldError(
                f"hooks[{index}]", "the same hook and handler are declared twice",
                "PPX-MAN-HOOK-DUPLICATE", f"{hook.name} -> {hook.handler}",
            ))
        seen.add((hook.name, hook.handler))
    if manifest.id in manifest.dependencies:
        errors.append(FieldError(
            f"dependencies[{json.dumps(manifest.id)}]", "a plugin cannot depend on itself",
            "PPX-MAN-DEPENDENCY", manifest.id,
        ))
    return errors


class _DuplicateKeys:
    """object_pairs_hook that remembers duplicate keys instead of silently keeping the last."""

    def __init__(self) -> None:
        self.duplicates: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                self.duplicates.append(key)
            out[key] = value
        return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _Overflow:
    """A JSON number too large for a double (``1e400``), kept so its field can be named."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _finite_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Overflow(text)


def _overflow_errors(node: Any, loc: tuple[int | str, ...] = ()) -> list[FieldError]:
    # Python would read 1e400 as infinity: SQLite stores it as non-standard JSON, PostgreSQL's
    # JSONB refuses it, so it is refused here with the field it sits in.
    if isinstance(node, _Overflow):
        return [FieldError(format_loc(loc), f"{node.text[:40]} is not a finite number",
                           "PPX-MAN-JSON", node.text[:40])]
    children: Iterator[tuple[int | str, Any]] = (
        iter(node.items()) if isinstance(node, dict)
        else enumerate(node) if isinstance(node, list) else iter(())
    )
    return [e for key, child in children for e in _overflow_errors(child, (*loc, key))]


def _invalid(errors: list[FieldError]) -> PackageError:
    return PackageError(f"{MANIFEST_NAME} is invalid", errors)


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and validate manifest bytes; raise :class:`PackageError` listing every problem."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _invalid([FieldError(
            MANIFEST_NAME, f"is larger than {MAX_MANIFEST_BYTES} bytes", "PPX-MAN-TOO-LARGE",
            len(raw),
        )])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid([FieldError(MANIFEST_NAME, "is not UTF-8", "PPX-MAN-JSON")]) from None
    if text.startswith("\ufeff"):
        raise _invalid([FieldError(MANIFEST_NAME, "must not start with a BOM", "PPX-MAN-JSON")])
    if _json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise _invalid([FieldError(
            MANIFEST_NAME, f"nests deeper than {MAX_JSON_DEPTH} levels", "PPX-MAN-JSON"
        )])
    hook = _DuplicateKeys()
    try:
        data = json.loads(text, object_pairs_hook=hook, parse_constant=_reject_constant,
                          parse_float=_finite_float)
    except ValueError as exc:
        raise _invalid([FieldError(
            MANIFEST_NAME, f"is not valid JSON: {str(exc)[:200]}", "PPX-MAN-JSON"
        )]) from None
    overflows = _overflow_errors(data)
    if overflows:
        raise _invalid(overflows)
    errors = [
        FieldError(key, "appears more than once in a JSON object", "PPX-MAN-DUPLICATE-KEY", key)
        for key in hook.duplicates
    ]
    if not isinstance(data, dict):
        raise _invalid([*errors, FieldError(
            MANIFEST_NAME, "must be a JSON object", "PPX-MAN-WRONG-TYPE", type(data).__name__
        )])
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(errors + _field_errors(exc)) from None
    errors += _cross_field_errors(manifest)
    if errors:
        raise _invalid(errors)
    return manifest


def compare_versions(a: str, b: str) -> int:
    """Semantic-version order of two versions: -1, 0 or 1 (pre-releases sort before releases)."""
    return semver.Version.parse(a).compare(b)
