"""Rules of the hook bus's wire forms: options parsing and the SPEC §4 result shape."""

from __future__ import annotations

from typing import Any

import pytest

from proofpix_plugins.errors import ValidationFailed
from proofpix_plugins.runtime.hooks.options import HookOptions
from proofpix_plugins.runtime.hooks.results import HookResult, PluginResult


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"timeout": 30_001}, "options.timeout"),
        ({"timeout": 0}, "options.timeout"),
        ({"timeout": True}, "options.timeout"),
        ({"timeout": "100"}, "options.timeout"),
        ({"mode": "random"}, "options.mode"),
        ({"stopOnError": "yes"}, "options.stopOnError"),
        ({"retries": 3}, "options.retries"),
        (["timeout"], "options"),
    ],
)
def test_bad_options_are_refused_naming_the_field(raw: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        HookOptions.from_wire(raw)
    assert [e.field for e in info.value.errors] == [field]


def test_wire_options_parse_camel_case() -> None:
    opts = HookOptions.from_wire({"timeout": 30_000, "mode": "waterfall", "stopOnError": True})
    assert opts == HookOptions(timeout_ms=30_000, mode="waterfall", stop_on_error=True)


def test_result_wire_form_is_camel_case_with_result_or_error() -> None:
    result = HookResult("file:uploaded", 1.23456, [
        PluginResult("acme.a", "ok", 0.5, {"k": 1}),
        PluginResult("acme.b", "timeout", 5000.0, None, "took too long"),
    ])
    assert result.to_wire() == {
        "hook": "file:uploaded",
        "durationMs": 1.235,
        "results": [
            {"pluginId": "acme.a", "status": "ok", "durationMs": 0.5, "result": {"k": 1}},
            {"pluginId": "acme.b", "status": "timeout", "durationMs": 5000.0,
             "error": "took too long"},
        ],
    }
