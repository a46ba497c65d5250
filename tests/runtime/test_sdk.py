"""The plugin SDK on its own: registration rules, response helpers, and its import boundary."""

from __future__ import annotations

import subprocess
import sys

import pytest

from proofpix_sdk import HttpResponse, PermissionDenied, Plugin


def test_hook_decorator_registers_and_returns_the_function() -> None:
    plugin = Plugin()

    @plugin.hook("file:uploaded")
    def on_upload(event: dict[str, object], ctx: object) -> dict[str, object]:
        return event

    assert plugin.hooks == {"file:uploaded": on_upload}
    assert on_upload({"a": 1}, None) == {"a": 1}


def test_a_hook_registered_twice_is_refused() -> None:
    plugin = Plugin()
    plugin.hook("file:uploaded")(lambda e, c: 1)
    with pytest.raises(ValueError, match="registered twice"):
        plugin.hook("file:uploaded")(lambda e, c: 2)


@pytest.mark.parametrize("name", ["", None, 3])
def test_hook_name_must_be_a_non_empty_string(name: object) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        Plugin().hook(name)  # type: ignore[arg-type]


def test_http_response_decodes_text_and_json() -> None:
    resp = HttpResponse(status=201, headers={"content-type": "application/json"},
                        content=b'{"ok": true}')
    assert resp.ok
    assert resp.text == '{"ok": true}'
    assert resp.json() == {"ok": True}
    assert not HttpResponse(status=500).ok


def test_permission_denied_names_the_permission() -> None:
    exc = PermissionDenied("files.read needs the 'files' permission", "files")
    assert exc.permission == "files"
    assert "files.read" in str(exc)


def test_sdk_never_imports_the_platform() -> None:
    code = (
        "import sys, proofpix_sdk, proofpix_sdk.context\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('proofpix_plugins', 'msgspec', 'orjson', 'PIL'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True, timeout=30)
    assert out.stdout.strip() == ""
