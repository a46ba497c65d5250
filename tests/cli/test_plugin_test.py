"""`plugin test` runs the plugin in the real sandbox: results, logs, capabilities, tracebacks of
the plugin's own frames, grants, events, config and photos; exit codes 0, 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from proofpix_plugins.cli.main import app

runner = CliRunner()

SOURCE = '''from typing import Any

from proofpix_sdk import HookContext


def deep(event: dict[str, Any]) -> Any:
    return event["data"]["n"]


def count(event: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    n = ctx.storage.get("n", 0) + 1
    ctx.storage.set("n", n)
    ctx.log.info("counted", n=n)
    if event.get("explode"):
        deep(event)
    return {"n": n, "limit": ctx.config["limit"], "event": event}


def measure(event: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    data = ctx.files.read()
    return {"bytes": len(data), "width": event["width"], "gps": "gps" in event["exif"]}
'''


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    root = tmp_path / "counter"
    (root / "plugin").mkdir(parents=True)
    (root / "plugin" / "__init__.py").write_text(SOURCE)
    (root / "plugin.json").write_text(json.dumps({
        "id": "acme.counter", "name": "Counter", "version": "1.0.0", "type": "utility",
        "hooks": [{"name": "custom:count", "handler": "count"},
                  {"name": "file:uploaded", "handler": "measure"}],
        "permissions": ["storage", "files"],
        "config_schema": {"type": "object", "properties": {
            "limit": {"type": "integer", "default": 3}}},
    }, indent=2))
    return root


def _test(*args: str):
    return runner.invoke(app, ["plugin", "test", *args], catch_exceptions=False)


def test_every_hook_runs_with_logs_and_capabilities(plugin: Path) -> None:
    result = _test(str(plugin), "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    hooks = {h["hook"]: h for h in run["hooks"]}
    count = hooks["custom:count"]
    assert count["status"] == "ok"
    assert count["result"]["n"] == 1
    assert count["result"]["limit"] == 3
    assert count["logs"] == [{"level": "info", "message": "counted", "fields": {"n": 1}}]
    assert count["capabilities"] == {"storage.get": 1, "storage.set": 1}
    measure = hooks["file:uploaded"]
    assert measure["status"] == "ok"
    assert measure["result"]["gps"] is True  # the generated sample photo carries GPS EXIF
    assert measure["capabilities"] == {"files.read": 1}
    assert run["sandbox"]["level"] in ("full", "degraded", "insecure")
    assert run["startupMs"] > 0


def test_an_error_shows_the_plugins_own_traceback_and_exits_1(plugin: Path, tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"explode": True}))
    result = _test(str(plugin), "--event", str(event), "--hook", "custom:count")
    assert result.exit_code == 1
    out = result.stdout
    assert "KeyError: 'data'" in out
    assert 'File "plugin/__init__.py", line 15, in count' in out
    assert 'File "plugin/__init__.py", line 7, in deep' in out
    # Host frames (the worker loop, the SDK) and absolute paths never show.
    assert "worker.py" not in out
    assert "proofpix_sdk" not in out
    assert "/tmp/" not in out


def test_json_traceback_is_structured(plugin: Path, tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"explode": True}))
    result = _test(str(plugin), "--event", str(event), "--hook", "custom:count", "--json")
    assert result.exit_code == 1
    [hook] = json.loads(result.stdout)["hooks"]
    assert hook["status"] == "error"
    assert [(f["file"], f["line"], f["function"]) for f in hook["traceback"]] == [
        ("plugin/__init__.py", 15, "count"), ("plugin/__init__.py", 7, "deep")]


def test_a_withheld_grant_is_denied(plugin: Path) -> None:
    result = _test(str(plugin), "--grant", "storage", "--json")
    assert result.exit_code == 1
    hooks = {h["hook"]: h for h in json.loads(result.stdout)["hooks"]}
    assert hooks["custom:count"]["status"] == "ok"
    assert hooks["file:uploaded"]["status"] == "denied"
    assert "requires permission(s) files" in hooks["file:uploaded"]["error"]


def test_capability_without_grant_is_denied_inside_the_plugin(plugin: Path) -> None:
    result = _test(str(plugin), "--grant", "files", "--hook", "custom:count", "--json")
    assert result.exit_code == 1
    [hook] = json.loads(result.stdout)["hooks"]
    assert hook["status"] == "denied"
    assert "PermissionDenied" in hook["error"]
    assert hook["traceback"][0]["function"] == "count"
    assert hook["denied"][0]["permission"] == "storage"


def test_config_and_a_real_photo(plugin: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"limit": 9}))
    photo = tmp_path / "shot.png"
    Image.new("RGB", (30, 20), (1, 2, 3)).save(photo)
    result = _test(str(plugin), "--config", str(config), "--file", str(photo), "--json")
    assert result.exit_code == 0, result.output
    hooks = {h["hook"]: h for h in json.loads(result.stdout)["hooks"]}
    assert hooks["custom:count"]["result"]["limit"] == 9
    assert hooks["file:uploaded"]["result"] == {"bytes": photo.stat().st_size, "width": 30,
                                                "gps": False}


def test_text_output_names_everything(plugin: Path) -> None:
    result = _test(str(plugin))
    assert result.exit_code == 0, result.output
    assert "acme.counter 1.0.0" in result.stdout
    assert "custom:count → count()  ok" in result.stdout
    assert "log info    counted n=1" in result.stdout
    assert "capabilities: storage.get×1, storage.set×1" in result.stdout
    assert "OK: 2 hook(s) answered ok" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--grant", "http"], "not requested"),
    (["--grant", "wizardry"], "unknown permission"),
    (["--hook", "custom:nope"], "not declared"),
])
def test_bad_options_exit_2(plugin: Path, args: list[str], message: str) -> None:
    result = _test(str(plugin), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_files_exit_2(plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "wrong.json").write_text(json.dumps({"limit": "x"}))
    (tmp_path / "not-a-photo.jpg").write_text("hello")
    cases = [
        (["--event", str(tmp_path / "bad.json")], "not valid JSON"),
        (["--event", str(tmp_path / "missing.json")], "cannot read"),
        (["--config", str(tmp_path / "list.json")], "JSON object"),
        (["--config", str(tmp_path / "wrong.json")], "does not match config_schema"),
        (["--file", str(tmp_path / "not-a-photo.jpg")], "not a decodable image"),
    ]
    for args, message in cases:
        result = _test(str(plugin), *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert _test(str(tmp_path / "nowhere")).exit_code == 2


def test_required_config_without_value_exits_2(plugin: Path) -> None:
    manifest = json.loads((plugin / "plugin.json").read_text())
    manifest["config_schema"] = {"type": "object", "required": ["url"],
                                 "properties": {"url": {"type": "string"}}}
    (plugin / "plugin.json").write_text(json.dumps(manifest))
    result = _test(str(plugin), "--hook", "custom:count")
    assert result.exit_code == 2
    assert "requires url" in result.output


def test_an_import_error_is_a_load_failure_exit_1(plugin: Path) -> None:
    (plugin / "plugin" / "__init__.py").write_text("raise RuntimeError('broken at import')\n")
    result = _test(str(plugin), "--json")
    assert result.exit_code == 1
    run = json.loads(result.stdout)
    assert "broken at import" in run["loadError"]
    assert run["hooks"] == []
