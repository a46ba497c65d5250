"""`plugin init` scaffolds a plugin that validates clean and passes `plugin test` in the real
sandbox, for every type; bad names and occupied directories exit 2 with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofpix_plugins.cli.main import app
from proofpix_plugins.cli.scaffold import TEMPLATES
from proofpix_plugins.packages.manifest import parse_manifest

runner = CliRunner()
TYPES = ("analyzer", "processor", "connector", "utility")


def _run(*args: str):
    return runner.invoke(app, ["plugin", *args], catch_exceptions=False)


@pytest.mark.parametrize("kind", TYPES)
def test_init_validates_clean_and_passes_its_own_test(tmp_path: Path, kind: str) -> None:
    target = tmp_path / f"my-{kind}"
    created = _run("init", f"my-{kind}", "--type", kind, "--dir", str(target),
                   "--publisher", "acme", "--json")
    assert created.exit_code == 0, created.output
    info = json.loads(created.stdout)
    assert info["id"] == f"acme.my-{kind}"
    assert set(info["files"]) == {"plugin.json", "plugin/__init__.py", "tests/test_plugin.py",
                                  "README.md"}
    manifest = parse_manifest((target / "plugin.json").read_bytes())
    assert manifest.type == kind
    assert [h.name for h in manifest.hooks] == [TEMPLATES[kind].hook]

    validated = _run("validate", str(target), "--format", "json")
    assert validated.exit_code == 0, validated.output
    report = json.loads(validated.stdout)
    assert report["findings"] == [], report["findings"]

    tested = _run("test", str(target), "--json")
    assert tested.exit_code == 0, tested.output
    run = json.loads(tested.stdout)
    assert run["ok"] is True
    [hook] = run["hooks"]
    assert hook["status"] == "ok"
    assert TEMPLATES[kind].expects in hook["result"]


def test_handlers_are_typed(tmp_path: Path) -> None:
    _run("init", "typed", "--type", "analyzer", "--dir", str(tmp_path / "t"))
    source = (tmp_path / "t" / "plugin" / "__init__.py").read_text()
    assert "def on_upload(event: dict[str, Any], ctx: HookContext) -> dict[str, Any]:" in source


def test_the_generated_author_test_runs_green(tmp_path: Path) -> None:
    target = tmp_path / "authored"
    assert _run("init", "authored", "--type", "utility", "--dir", str(target)).exit_code == 0
    result = pytest.main(["-q", "-p", "no:cacheprovider", str(target / "tests")])
    assert result == pytest.ExitCode.OK


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = _run("init", "taken", "--type", "utility", "--dir", str(tmp_path / "taken"))
    assert result.exit_code == 2
    assert "not an empty directory" in result.output
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "taken" / "plugin.json").exists()


def test_init_accepts_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _run("init", "empty", "--type", "utility", "--dir", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "plugin.json").is_file()


@pytest.mark.parametrize("name", ["Bad", "x", "has_underscore", "ünï", "a" * 25])
def test_init_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    result = _run("init", name, "--type", "utility", "--dir", str(tmp_path / "n"))
    assert result.exit_code == 2
    assert "is not valid" in result.output
    assert not (tmp_path / "n").exists()


def test_init_refuses_a_bad_publisher_and_type(tmp_path: Path) -> None:
    bad_ns = _run("init", "fine", "--type", "utility", "--publisher", "Acme!",
                  "--dir", str(tmp_path / "a"))
    assert bad_ns.exit_code == 2
    assert "--publisher" in bad_ns.output
    bad_type = _run("init", "fine", "--type", "gadget", "--dir", str(tmp_path / "b"))
    assert bad_type.exit_code == 2
