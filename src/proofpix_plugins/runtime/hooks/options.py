"""The options of one ``execute_hook`` call (SPEC §4): ``timeout``, ``mode``, ``stopOnError``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.runtime.limits import TIMEOUT_MS_MAX

__all__ = ["DEFAULT_OPTIONS", "MODES", "HookMode", "HookOptions"]

HookMode = Literal["parallel", "sequential", "waterfall"]
MODES: Final[tuple[HookMode, ...]] = ("parallel", "sequential", "waterfall")


@dataclass(frozen=True)
class HookOptions:
    """Per-call options of SPEC §4 (``timeout``, ``mode``, ``stopOnError``).

    In ``waterfall`` mode each ``ok`` result is the next plugin's input; a failed plugin, or one
    returning ``None``, passes its input through. ``stop_on_error`` stops a ``sequential`` or
    ``waterfall`` run at the first result that is not ``ok`` (the plugins after it are not called
    and not listed). In ``parallel`` mode every call is already in flight, so it changes nothing:
    all results are reported.
    """

    timeout_ms: int | None = None
    mode: HookMode = "parallel"
    stop_on_error: bool = False

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        t = self.timeout_ms
        if t is not None and (isinstance(t, bool) or not isinstance(t, int)):
            errors.append(FieldError("options.timeout", "must be an integer (ms)", "type", t))
        # 1 ms, below a declared timeout's floor (limits.TIMEOUT_MS_MIN): a nested call passes
        # on what is left of its caller's budget, which may be only a few milliseconds.
        elif t is not None and not 1 <= t <= TIMEOUT_MS_MAX:
            errors.append(
                FieldError("options.timeout", f"must be between 1 and {TIMEOUT_MS_MAX} ms",
                           "range", t)
            )
        if self.mode not in MODES:
            errors.append(
                FieldError("options.mode", f"must be one of {', '.join(MODES)}", "enum", self.mode)
            )
        if not isinstance(self.stop_on_error, bool):
            errors.append(
                FieldError("options.stopOnError", "must be a boolean", "type", self.stop_on_error)
            )
        if errors:
            raise ValidationFailed("invalid hook options", errors)

    @classmethod
    def from_wire(cls, raw: Any) -> HookOptions:
        """Parse the camelCase ``options`` object of the REST API; unknown keys are errors."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValidationFailed(
                "invalid hook options", [FieldError("options", "must be an object", "type")]
            )
        known = {"timeout", "mode", "stopOnError"}
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise ValidationFailed(
                "invalid hook options",
                [FieldError(f"options.{k}", "unknown option", "additionalProperties")
                 for k in unknown],
            )
        return cls(
            timeout_ms=raw.get("timeout"),
            mode=raw.get("mode", "parallel"),
            stop_on_error=raw.get("stopOnError", False),
        )


DEFAULT_OPTIONS: Final = HookOptions()
