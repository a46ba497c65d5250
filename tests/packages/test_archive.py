"""The archive reader and extractor (hostile input)."""

from __future__ import annotations

import hashlib
import random
import stat
import zipfile

import pytest

from proofpix_plugins.packages.archive import (
    ArchiveLimits,
    extract_archive,
    iter_files,
    read_archive,
)
from proofpix_plugins.packages.errors import PackageError
from tests.packages.builders import (
    HANDLER_SOURCE,
    Raw,
    make_ppx,
    manifest,
    writestr_ppx,
)


def _rules(exc: pytest.ExceptionInfo[PackageError]) -> set[str | None]:
    return {e.rule for e in exc.value.errors}


def test_read_archive_lists_entries_hashes_bytes_and_returns_manifest(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", {"README.md": "# hi\n"})
    archive = read_archive(path)
    assert archive.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert archive.size == path.stat().st_size
    assert {e.name for e in archive.files} == {"plugin.json", "plugin/__init__.py", "README.md"}
    assert b'"acme.sample"' in archive.manifest_bytes


def test_iter_files_yields_contents(tmp_path):
    archive = read_archive(make_ppx(tmp_path / "p.ppx"))
    contents = {e.name: data for e, data in iter_files(archive)}
    assert contents["plugin/__init__.py"] == HANDLER_SOURCE.encode()


def test_all_entry_problems_are_reported_together(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", extra=[
        Raw("../a.py", b"x"), Raw("/abs.py", b"x"), Raw("lib.so", b"x"),
        Raw("link", b"/etc", mode=stat.S_IFLNK | 0o777),
    ])
    with pytest.raises(PackageError) as info:
        read_archive(path)
    assert _rules(info) >= {"PPX-ARC-PATH-TRAVERSAL", "PPX-ARC-ABSOLUTE-PATH",
                            "PPX-ARC-NATIVE-CODE", "PPX-ARC-SYMLINK"}
    assert {e.field for e in info.value.errors} >= {"../a.py", "/abs.py", "lib.so", "link"}


def test_a_zipfile_writestr_package_is_not_a_special_file(tmp_path):
    path = writestr_ppx(tmp_path / "w.ppx", manifest(), {"plugin/__init__.py": HANDLER_SOURCE})
    with zipfile.ZipFile(path) as zf:
        assert {stat.S_IFMT(i.external_attr >> 16) for i in zf.infolist()} == {0}

    archive = read_archive(path)

    assert {e.name for e in archive.entries} >= {"plugin.json", "plugin/__init__.py"}


@pytest.mark.parametrize("file_type", [stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK])
def test_a_real_special_file_type_is_still_refused(tmp_path, file_type):
    path = make_ppx(tmp_path / "p.ppx", extra=[Raw("plugin/odd", b"", mode=file_type | 0o644)])
    with pytest.raises(PackageError) as info:
        read_archive(path)
    assert "PPX-ARC-SPECIAL-FILE" in _rules(info)


def test_entry_names_are_escaped_in_errors(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", extra=[Raw("a\x1b[31m.txt", b"x")])
    with pytest.raises(PackageError) as info:
        read_archive(path)
    assert info.value.errors[0].field == "a\\x1b[31m.txt"


def test_limits_are_configurable(tmp_path):
    # Incompressible, so only the size rule fires (not the ratio rule).
    noise = random.Random(0).randbytes(5000)  # noqa: S311 - test data
    path = make_ppx(tmp_path / "p.ppx", {"assets/a.bin": noise})
    with pytest.raises(PackageError) as info:
        read_archive(path, ArchiveLimits(max_uncompressed_bytes=1000))
    assert _rules(info) == {"PPX-ARC-TOO-LARGE"}
    with pytest.raises(PackageError) as info:
        read_archive(path, ArchiveLimits(max_entries=2))
    assert _rules(info) == {"PPX-ARC-TOO-MANY-ENTRIES"}
    with pytest.raises(PackageError) as info:
        read_archive(path, ArchiveLimits(max_compressed_bytes=100))
    assert _rules(info) == {"PPX-ARC-TOO-LARGE"}


def test_small_repetitive_files_are_exempt_from_the_ratio_rule(tmp_path):
    read_archive(make_ppx(tmp_path / "p.ppx", {"assets/blank.txt": " " * 4000}))


def test_missing_file_is_a_package_error(tmp_path):
    with pytest.raises(PackageError) as info:
        read_archive(tmp_path / "nope.ppx")
    assert _rules(info) == {"PPX-ARC-NOT-ZIP"}


def test_directory_is_a_package_error(tmp_path):
    with pytest.raises(PackageError) as info:
        read_archive(tmp_path)
    assert _rules(info) == {"PPX-ARC-NOT-ZIP"}


def test_truncated_archive_is_a_package_error(tmp_path):
    path = make_ppx(tmp_path / "p.ppx")
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(PackageError):
        read_archive(path)


def test_file_and_directory_with_same_name_conflict(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", {"assets": "x", "assets/a.txt": "y"})
    with pytest.raises(PackageError) as info:
        read_archive(path)
    assert _rules(info) == {"PPX-ARC-DUPLICATE"}


def test_unicode_equivalent_names_are_duplicates(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", {"assets/caf\u00e9.txt": "1", "assets/cafe\u0301.txt": "2"})
    with pytest.raises(PackageError) as info:
        read_archive(path)
    assert _rules(info) == {"PPX-ARC-DUPLICATE"}


def test_extract_writes_the_tree(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", {"assets/a/b.txt": "deep"})
    dest = tmp_path / "out"
    archive = extract_archive(path, dest)
    assert (dest / "plugin" / "__init__.py").read_text() == HANDLER_SOURCE
    assert (dest / "assets" / "a" / "b.txt").read_text() == "deep"
    assert archive.manifest_bytes == (dest / "plugin.json").read_bytes()
    assert stat.S_IMODE((dest / "assets" / "a" / "b.txt").stat().st_mode) == 0o644


def test_extract_into_existing_empty_directory(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    extract_archive(make_ppx(tmp_path / "p.ppx"), dest)
    assert (dest / "plugin.json").is_file()


def test_extract_refuses_non_empty_destination(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(PackageError) as info:
        extract_archive(make_ppx(tmp_path / "p.ppx"), dest)
    assert _rules(info) == {"PPX-ARC-DEST-NOT-EMPTY"}
    assert (dest / "keep.txt").read_text() == "mine"


def test_extract_refuses_symlinked_destination(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(PackageError):
        extract_archive(make_ppx(tmp_path / "p.ppx"), link)
    assert list(real.iterdir()) == []


def test_rejected_archive_leaves_nothing_behind(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", extra=[Raw("../escape.py", b"x")])
    dest = tmp_path / "out"
    with pytest.raises(PackageError):
        extract_archive(path, dest)
    assert not dest.exists()
    assert not (tmp_path / "escape.py").exists()


def test_a_zip_inside_the_package_is_refused_at_extraction_whatever_its_name(tmp_path):
    from tests.scanning.corpus import NESTED_ZIP

    for name, data in (("plugin/blob.dat", NESTED_ZIP),
                       ("assets/photo.jpg", b"\xff\xd8\xff\xe0" + b"\x01" * 300 + NESTED_ZIP)):
        path = make_ppx(tmp_path / "p.ppx", {name: data})
        dest = tmp_path / "out"
        with pytest.raises(PackageError) as info:
            extract_archive(path, dest)
        assert _rules(info) == {"PPX-ARC-NESTED-ARCHIVE"}
        assert not dest.exists()


def test_native_content_found_during_extraction_rolls_back(tmp_path):
    path = make_ppx(tmp_path / "p.ppx", {"assets/z.bin": b"\x7fELF" + b"\0" * 64})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(PackageError) as info:
        extract_archive(path, dest)
    assert _rules(info) == {"PPX-ARC-NATIVE-CODE"}
    assert list(dest.iterdir()) == []


def test_corrupt_entry_is_refused_on_extract(tmp_path):
    path = tmp_path / "p.ppx"
    make_ppx(path, extra=[Raw("assets/s.txt", b"hello world", compress=zipfile.ZIP_STORED)])
    from tests.packages.builders import corrupt_entry_data

    corrupt_entry_data(path, "assets/s.txt")
    with pytest.raises(PackageError) as info:
        extract_archive(path, tmp_path / "out")
    assert _rules(info) == {"PPX-ARC-CORRUPT"}
    assert not (tmp_path / "out").exists()
