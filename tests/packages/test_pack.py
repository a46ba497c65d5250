"""The author-side writer: deterministic archives of exactly what belongs in a package."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from proofpix_plugins.packages.archive import read_archive
from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.pack import write_archive
from tests.packages.builders import write_tree


def _rules(exc: pytest.ExceptionInfo[PackageError]) -> set[str | None]:
    return {e.rule for e in exc.value.errors}


def test_write_archive_is_deterministic(tmp_path):
    src = write_tree(tmp_path / "src", {"plugin.json": "{}", "plugin/__init__.py": "x = 1\n",
                                        "assets/b.txt": "b", "assets/a.txt": "a"})
    first = write_archive(src, tmp_path / "one.ppx")
    os.utime(src / "assets" / "a.txt", (1_000_000, 1_000_000))
    second = write_archive(src, tmp_path / "two.ppx")
    assert first == second
    assert (tmp_path / "one.ppx").read_bytes() == (tmp_path / "two.ppx").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.ppx") as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_write_archive_skips_caches_hidden_files_and_bytecode(tmp_path):
    src = write_tree(tmp_path / "src", {
        "plugin.json": "{}", "plugin/__init__.py": "", "plugin/__pycache__/x.pyc": b"\0",
        ".git/config": "", "plugin/.DS_Store": "", "plugin/old.pyc": b"\0",
        "acme.x-1.0.0.ppx": b"PK", "acme.x-1.0.0.ppx.sig": "sig",
    })
    write_archive(src, tmp_path / "p.ppx")
    with zipfile.ZipFile(tmp_path / "p.ppx") as zf:
        assert zf.namelist() == ["plugin.json", "plugin/__init__.py"]


def test_write_archive_refuses_symlinks(tmp_path):
    src = write_tree(tmp_path / "src", {"plugin.json": "{}"})
    (src / "leak").symlink_to("/etc/passwd")
    with pytest.raises(PackageError) as info:
        write_archive(src, tmp_path / "p.ppx")
    assert _rules(info) == {"PPX-ARC-SYMLINK"}
    assert not (tmp_path / "p.ppx").exists()


def test_write_archive_refuses_a_missing_directory(tmp_path):
    with pytest.raises(PackageError) as info:
        write_archive(tmp_path / "missing", tmp_path / "p.ppx")
    assert _rules(info) == {"PPX-ARC-NOT-DIR"}


def test_written_archive_reads_back(tmp_path):
    src = write_tree(tmp_path / "src", {"plugin.json": "{}", "plugin/__init__.py": "x = 1\n"})
    sha = write_archive(src, tmp_path / "p.ppx")
    assert read_archive(tmp_path / "p.ppx").sha256 == sha
    assert not list(Path(tmp_path).glob(".ppx-*"))
