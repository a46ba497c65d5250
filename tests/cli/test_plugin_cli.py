"""`proofpix-plugins plugin ...`: exit codes 0 clean, 1 rejected, 2 usage error."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofpix_plugins.cli.main import app
from proofpix_plugins.packages.archive import read_archive
from tests.packages.builders import HANDLER_SOURCE, make_ppx, writestr_ppx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["plugin", *args], catch_exceptions=False)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / "upload-counter", tmp_path / "upload-counter"))


@pytest.fixture
def evil_ppx(tmp_path: Path) -> Path:
    return make_ppx(tmp_path / "evil.ppx",
                    {"plugin/__init__.py": HANDLER_SOURCE + "import subprocess\n"})


def test_validate_clean_directory_exits_0(tmp_path):
    clean = Path(shutil.copytree(EXAMPLES / "exif-reader", tmp_path / "exif-reader"))
    result = _run("validate", str(clean))
    assert result.exit_code == 0, result.output
    assert "CLEAN" in result.output


def test_validate_warns_about_a_hook_without_its_permission(example):
    """upload-counter as it once was, binding file:uploaded without 'files': the bus would
    deny every call."""
    manifest_path = example / "plugin.json"
    meta = json.loads(manifest_path.read_text())
    meta["permissions"] = [p for p in meta["permissions"] if p != "files"]
    manifest_path.write_text(json.dumps(meta, indent=2))
    result = _run("validate", str(example))
    # Its code still calls ctx.files, which is also a (blocking) undeclared use.
    assert result.exit_code == 1, result.output
    assert "PPX-HOOK-PERMISSION" in result.output
    assert "plugin.json:" in result.output


def test_validate_rejected_package_exits_1_and_names_the_rule(evil_ppx):
    result = _run("validate", str(evil_ppx))
    assert result.exit_code == 1
    assert "PPX-MOD-SUBPROCESS" in result.output
    assert "REJECTED" in result.output


def test_validate_json_output(evil_ppx):
    result = _run("validate", str(evil_ppx), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["rejected"] is True
    assert "PPX-MOD-SUBPROCESS" in {f["ruleId"] for f in data["findings"]}


def test_validate_sarif_output_to_file(evil_ppx, tmp_path):
    out = tmp_path / "report.sarif"
    result = _run("validate", str(evil_ppx), "--format", "sarif", "--output", str(out))
    assert result.exit_code == 1
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"]


def test_validate_accepts_a_package_written_by_zipfile_writestr(tmp_path):
    meta = json.loads((EXAMPLES / "upload-counter" / "plugin.json").read_text())
    files = {str(p.relative_to(EXAMPLES / "upload-counter")): p.read_text()
             for p in (EXAMPLES / "upload-counter").rglob("*.py")}
    path = writestr_ppx(tmp_path / "w.ppx", meta, files)

    result = _run("validate", str(path))

    assert result.exit_code == 0, result.output
    assert "PPX-ARC-SPECIAL-FILE" not in result.output


def test_validate_missing_path_is_usage_error(tmp_path):
    result = _run("validate", str(tmp_path / "nope"))
    assert result.exit_code == 2


def test_validate_unknown_format_is_usage_error(evil_ppx):
    assert _run("validate", str(evil_ppx), "--format", "xml").exit_code == 2


def test_validate_disabling_a_required_check_is_usage_error(evil_ppx):
    result = _run("validate", str(evil_ppx), "--disable", "secrets")
    assert result.exit_code == 2
    assert "required" in result.output


def test_validate_engine_mismatch_with_explicit_platform_version(example):
    manifest = json.loads((example / "plugin.json").read_text())
    manifest["engines"] = {"proofpix": ">=2"}
    (example / "plugin.json").write_text(json.dumps(manifest))
    assert _run("validate", str(example)).exit_code == 1
    assert _run("validate", str(example), "--platform-version", "2.1.0").exit_code == 0


def test_validate_directory_with_symlink_is_rejected(example):
    (example / "leak").symlink_to("/etc/passwd")
    result = _run("validate", str(example))
    assert result.exit_code == 1
    assert "PPX-ARC-SYMLINK" in result.output


def test_pack_writes_deterministic_package_named_by_id_and_version(example, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = _run("pack", str(example))
    assert first.exit_code == 0, first.output
    version = json.loads((example / "plugin.json").read_text())["version"]
    out = tmp_path / f"proofpix.upload-counter-{version}.ppx"
    digest = read_archive(out).sha256
    assert digest in first.output
    again = _run("pack", str(example), "-o", str(tmp_path / "again.ppx"))
    assert again.exit_code == 0
    assert read_archive(tmp_path / "again.ppx").sha256 == digest


def test_pack_rejected_package_leaves_no_file(example, tmp_path):
    (example / "plugin" / "__init__.py").write_text(HANDLER_SOURCE + "import ctypes\n")
    out = tmp_path / "bad.ppx"
    result = _run("pack", str(example), "-o", str(out))
    assert result.exit_code == 1
    assert "PPX-MOD-NATIVE" in result.output
    assert not out.exists()


def test_pack_missing_directory_is_usage_error(tmp_path):
    assert _run("pack", str(tmp_path / "nope")).exit_code == 2


def test_keygen_sign_verify_round_trip(example, tmp_path):
    prefix = tmp_path / "dev"
    assert _run("keygen", "--out", str(prefix)).exit_code == 0
    key = tmp_path / "dev.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ppx = tmp_path / "p.ppx"
    assert _run("pack", str(example), "-o", str(ppx)).exit_code == 0
    signed = _run("sign", str(ppx), "--key", str(key))
    assert signed.exit_code == 0, signed.output
    assert (tmp_path / "p.ppx.sig").is_file()
    assert _run("verify", str(ppx), "--pub", str(tmp_path / "dev.pub")).exit_code == 0


def test_verify_fails_for_a_modified_package(example, tmp_path):
    _run("keygen", "--out", str(tmp_path / "dev"))
    ppx = tmp_path / "p.ppx"
    _run("pack", str(example), "-o", str(ppx))
    _run("sign", str(ppx), "--key", str(tmp_path / "dev.key"))
    (example / "README.md").write_text("changed\n")
    _run("pack", str(example), "-o", str(ppx))
    result = _run("verify", str(ppx), "--pub", str(tmp_path / "dev.pub"))
    assert result.exit_code == 1
    assert "INVALID" in result.output


def test_keygen_refuses_to_overwrite(tmp_path):
    assert _run("keygen", "--out", str(tmp_path / "k")).exit_code == 0
    before = (tmp_path / "k.key").read_bytes()
    assert _run("keygen", "--out", str(tmp_path / "k")).exit_code == 2
    assert (tmp_path / "k.key").read_bytes() == before


def test_sign_with_a_bad_key_is_usage_error(evil_ppx, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    ok = make_ppx(tmp_path / "ok.ppx")
    assert _run("sign", str(ok), "--key", str(bad)).exit_code == 2
    assert _run("sign", str(ok), "--key", str(tmp_path / "missing.key")).exit_code == 2


def test_sign_refuses_an_invalid_archive(tmp_path):
    _run("keygen", "--out", str(tmp_path / "k"))
    junk = tmp_path / "junk.ppx"
    junk.write_bytes(b"junk")
    assert _run("sign", str(junk), "--key", str(tmp_path / "k.key")).exit_code == 1


def test_rules_lists_every_rule_as_json():
    result = _run("rules", "--json")
    assert result.exit_code == 0
    ids = {r["id"] for r in json.loads(result.stdout)}
    assert {"PPX-ARC-PATH-TRAVERSAL", "PPX-ESC-SUBCLASSES", "PPX-SECRET-AWS"} <= ids


def test_root_version_option():
    from proofpix_plugins import PLATFORM_VERSION

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"proofpix-plugins {PLATFORM_VERSION}"


def test_pack_keeps_stdout_for_the_report(tmp_path):
    src = Path(shutil.copytree(EXAMPLES / "exif-reader", tmp_path / "exif-reader"))
    out = tmp_path / "x.ppx"
    result = runner.invoke(app, ["plugin", "pack", str(src), "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected"] is False
    assert out.is_file()
