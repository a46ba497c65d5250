"""The scanner parses plugin code; it never imports or runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from proofpix_plugins.scanning import scan_directory, scan_package
from tests.packages.builders import HANDLER_SOURCE, make_ppx, write_tree

ROOT = Path(__file__).resolve().parents[2]


def _booby_trapped_source(marker: Path) -> str:
    # Importing any of these modules (or unpickling, or running setup) would create the marker.
    return (f"from pathlib import Path as _P\n_P({str(marker)!r}).write_text('imported')\n"
            + HANDLER_SOURCE)


def _files(marker: Path) -> dict[str, str | bytes]:
    trap = _booby_trapped_source(marker)
    return {"plugin/__init__.py": trap, "plugin/helpers.py": trap, "setup.py": trap,
            "conftest.py": trap}


def test_scan_package_does_not_import_plugin_code(tmp_path):
    marker = tmp_path / "marker"
    path = make_ppx(tmp_path / "trap.ppx", _files(marker))
    report = scan_package(path, platform_version="0.1.0", python_version="3.11.7")
    assert not marker.exists()
    # It really was analysed: the trap's absolute-path write is reported for every copy.
    flagged = {f.file for f in report.findings if f.rule_id == "PPX-FS-ABSOLUTE-PATH"}
    assert flagged == {"plugin/__init__.py", "plugin/helpers.py", "setup.py", "conftest.py"}


def test_scan_directory_does_not_import_plugin_code(tmp_path):
    marker = tmp_path / "marker"
    src = write_tree(tmp_path / "src", {"plugin.json": (ROOT / "examples" / "upload-counter" /
                                                        "plugin.json").read_text(),
                                        **_files(marker)})
    scan_directory(src, platform_version="0.1.0", python_version="3.11.7")
    assert not marker.exists()


def test_cli_validate_does_not_import_plugin_code(tmp_path):
    marker = tmp_path / "marker"
    path = make_ppx(tmp_path / "trap.ppx", _files(marker))
    for target in (path, write_tree(tmp_path / "tree", {"plugin.json": "{}", **_files(marker)})):
        proc = subprocess.run(
            [sys.executable, "-m", "proofpix_plugins.cli.main", "plugin", "validate", str(target),
             "--format", "json"],
            capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert '"findings"' in proc.stdout
        assert not marker.exists()
