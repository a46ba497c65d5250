"""The SDK download: a zip with an installable ``proofpix-sdk``, a template plugin and docs.

Everything is built in process from the running server's own ``proofpix_sdk`` sources, so the
SDK a developer downloads is the one the sandbox runs. The zip holds:

* ``dist/proofpix_sdk-<v>-py3-none-any.whl``: a pure-Python wheel (PEP 427), which
  ``pip install --no-index`` installs offline;
* ``dist/proofpix_sdk-<v>.tar.gz``: the source distribution (setuptools backend);
* ``template/``: a plugin that the scanner passes clean, to copy;
* ``docs/plugin-authoring.md`` (the repository's guide when the server has it) or a short
  README, and a top-level ``README.md``.

The bytes depend only on those inputs (fixed timestamps, sorted entries, fixed permissions),
so equal inputs give an equal ETag. The SDK is versioned with the platform.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final

import proofpix_plugins
from proofpix_plugins import __version__

DIST_NAME: Final = "proofpix-sdk"
_WHEEL_NAME: Final = "proofpix_sdk"
SDK_VERSION: Final = __version__
LANGUAGES: Final = ("python",)
#: 1980-01-01, the earliest time a zip entry can carry; also used for the tarball.
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)
_EPOCH_1980: Final = 315532800
#: Where the repository keeps the authoring guide, relative to an editable/source checkout.
DOCS_PATH: Final = Path(proofpix_plugins.__file__).resolve().parents[2] / "docs" / (
    "plugin-authoring.md")

_TEMPLATE_FILES: Final = (
    ("plugin.json.tmpl", "plugin.json"),
    ("plugin/__init__.py.tmpl", "plugin/__init__.py"),
    ("README.md.tmpl", "README.md"),
)

_FALLBACK_DOCS: Final = """\
# Writing ProofPix plugins

A plugin is a `.ppx` zip: `plugin.json` (the manifest), a Python package (`plugin/` by
default) and optionally `README.md` and `assets/`. Its code imports only `proofpix_sdk` and the
standard library, and runs in a sandbox: no network, no files, no processes of its own. Every
capability goes through the `HookContext` and needs a permission the manifest declares and the
organization's admin granted:

| permission | what it grants |
|---|---|
| `files` | `ctx.files.read()`: the bytes of the file the hook is about |
| `images` | decode and transform images (Pillow) and return a derived image |
| `metadata` | read and write the file's metadata records |
| `storage` | `ctx.storage.get/set`: the plugin's key-value store, per organization |
| `http` | `ctx.http`: HTTPS to the hosts of `network.allow` only |
| `crypto` | hashing, HMAC and signing helpers |
| `events` | emit custom events, call other hooks |
| `secrets` | read configuration values marked `x-secret` |

Handlers are plain functions, `handler(event: dict, ctx: HookContext) -> dict`, registered
with `@plugin.hook("<hook name>")` and listed in the manifest's `hooks`. Start from
`template/`, install the SDK from `dist/` for your editor and tests, then:

    proofpix-plugins plugin validate template/   # the marketplace's own scan, offline
    proofpix-plugins plugin pack template/
    proofpix-plugins plugin keygen               # once; register the .pub as a signing key
    proofpix-plugins plugin sign <package.ppx>
    proofpix-plugins plugin publish <package.ppx>

The full manifest reference is in the platform's documentation (`docs/spec.md`, section 2).
"""


def _readme(version: str) -> str:
    return f"""\
# ProofPix plugin SDK {version} (Python)

- `dist/` holds the `{DIST_NAME}` package: `pip install dist/{_wheel_filename(version)}`
  (works offline; no dependencies) or the source distribution beside it.
- `template/` is a working plugin to start from: set your namespace in `plugin.json`.
- `docs/` explains how plugins are written, scanned, signed and published.
"""


@dataclass(frozen=True, slots=True)
class SdkArchive:
    filename: str
    content: bytes
    etag: str


def _wheel_filename(version: str) -> str:
    return f"{_WHEEL_NAME}-{version}-py3-none-any.whl"


def sdk_sources() -> list[tuple[str, bytes]]:
    """(relative path, bytes) of every file of the ``proofpix_sdk`` package, sorted."""
    root = resources.files("proofpix_sdk")
    found = [(entry.name, entry.read_bytes()) for entry in root.iterdir()
             if entry.is_file() and (entry.name.endswith(".py") or entry.name == "py.typed")]
    return sorted(found)


def _metadata(version: str) -> str:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {DIST_NAME}\n"
        f"Version: {version}\n"
        "Summary: What ProofPix plugin code imports: Plugin, HookContext and capabilities\n"
        "Requires-Python: >=3.11\n"
        "License: Proprietary\n"
    )


def _zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 & 0xFFFF) << 16
            info.create_system = 3  # Unix, so the mode bits above are read as such
            archive.writestr(info, data)
    return buffer.getvalue()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def build_wheel(version: str = SDK_VERSION) -> bytes:
    """A PEP 427 wheel of ``proofpix_sdk`` (pure Python, any platform)."""
    dist_info = f"{_WHEEL_NAME}-{version}.dist-info"
    files = [(f"proofpix_sdk/{name}", data) for name, data in sdk_sources()]
    files.append((f"{dist_info}/METADATA", _metadata(version).encode()))
    files.append((f"{dist_info}/WHEEL", (
        b"Wheel-Version: 1.0\nGenerator: proofpix-plugins\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n")))
    files.append((f"{dist_info}/top_level.txt", b"proofpix_sdk\n"))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in sorted(files):
        writer.writerow([name, _record_hash(data), len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    files.append((f"{dist_info}/RECORD", record.getvalue().encode()))
    return _zip(files)


def build_sdist(version: str = SDK_VERSION) -> bytes:
    """A source distribution that builds the same package with setuptools."""
    root = f"{_WHEEL_NAME}-{version}"
    pyproject = (
        "[build-system]\n"
        'requires = ["setuptools>=77"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{DIST_NAME}"\n'
        f'version = "{version}"\n'
        'description = "What ProofPix plugin code imports: Plugin, HookContext and capabilities"\n'
        'requires-python = ">=3.11"\n\n'
        "[tool.setuptools.package-data]\n"
        'proofpix_sdk = ["py.typed"]\n'
    )
    files = [(f"{root}/src/proofpix_sdk/{name}", data) for name, data in sdk_sources()]
    files.append((f"{root}/pyproject.toml", pyproject.encode()))
    files.append((f"{root}/PKG-INFO", _metadata(version).encode()))
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = _EPOCH_1980
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    # mtime=0 and no file name in the gzip header: the same tar gives the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(tar_buffer.getvalue())
    return out.getvalue()


def template_files() -> list[tuple[str, bytes]]:
    root = resources.files(__package__).joinpath("sdk_template")
    return [(target, root.joinpath(source).read_bytes()) for source, target in _TEMPLATE_FILES]


def read_docs(path: Path = DOCS_PATH) -> tuple[str, bytes]:
    """(name in the zip, bytes): the authoring guide when present, else the built-in one."""
    try:
        return "docs/plugin-authoring.md", path.read_bytes()
    except OSError:
        return "docs/README.md", _FALLBACK_DOCS.encode()


@lru_cache(maxsize=4)
def _build(version: str, docs_name: str, docs: bytes) -> SdkArchive:
    entries = [
        (f"dist/{_wheel_filename(version)}", build_wheel(version)),
        (f"dist/{_WHEEL_NAME}-{version}.tar.gz", build_sdist(version)),
        (docs_name, docs),
        ("README.md", _readme(version).encode()),
        *((f"template/{name}", data) for name, data in template_files()),
    ]
    content = _zip(entries)
    return SdkArchive(
        filename=f"proofpix-sdk-python-{version}.zip",
        content=content,
        etag='"' + hashlib.sha256(content).hexdigest() + '"',
    )


def python_sdk(docs_path: Path = DOCS_PATH) -> SdkArchive:
    """The Python SDK zip (cached per docs content: the docs are read at each request)."""
    docs_name, docs = read_docs(docs_path)
    return _build(SDK_VERSION, docs_name, docs)
