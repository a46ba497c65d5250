"""GET /api/developers/sdk/{language}: an installable SDK, a clean template, deterministic bytes."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from proofpix_plugins import __version__
from proofpix_plugins.developers import sdk
from proofpix_plugins.scanning.scanner import scan_directory

WHEEL = f"dist/proofpix_sdk-{__version__}-py3-none-any.whl"
SDIST = f"dist/proofpix_sdk-{__version__}.tar.gz"


def _names(content: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return set(archive.namelist())


def _member(content: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return archive.read(name)


async def test_download_with_etag(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/developers/sdk/python")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f"proofpix-sdk-python-{__version__}.zip" in response.headers["content-disposition"]
    names = _names(response.content)
    assert {WHEEL, SDIST, "README.md", "template/plugin.json", "template/plugin/__init__.py",
            "template/README.md"} <= names
    assert "docs/plugin-authoring.md" in names or "docs/README.md" in names
    etag = response.headers["etag"]
    same = await client.get(f"/api/developers/sdk/python?version={__version__}")
    assert same.content == response.content
    assert same.headers["etag"] == etag
    cached = await client.get("/api/developers/sdk/python", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    for header in ("*", f'"a", W/{etag}'):
        hit = await client.get("/api/developers/sdk/python", headers={"If-None-Match": header})
        assert hit.status_code == 304, header
    stale = await client.get("/api/developers/sdk/python", headers={"If-None-Match": '"x"'})
    assert stale.status_code == 200


@pytest.mark.parametrize(("path", "listed"), [
    ("/api/developers/sdk/javascript", "python"),
    ("/api/developers/sdk/PYTHON", "python"),
    ("/api/developers/sdk/python?version=9.9.9", "latest"),
    ("/api/developers/sdk/python?version=", "latest"),
])
async def test_unknown_language_or_version_lists_what_exists(
    client: httpx.AsyncClient, path: str, listed: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert listed in response.json()["detail"]


def test_bytes_are_deterministic(tmp_path: Path) -> None:
    docs = tmp_path / "plugin-authoring.md"
    docs.write_text("# Guide\n")
    first = sdk.python_sdk(docs)
    sdk._build.cache_clear()
    second = sdk.python_sdk(docs)
    assert first.content == second.content
    assert first.etag == second.etag
    assert _member(first.content, "docs/plugin-authoring.md") == b"# Guide\n"
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert sdk.build_sdist() == sdk.build_sdist()
    assert sdk.build_wheel() == sdk.build_wheel()
    # Other docs, other bytes (and ETag); missing docs fall back to the built-in guide.
    docs.write_text("# Guide, v2\n")
    assert sdk.python_sdk(docs).etag != first.etag
    fallback = sdk.python_sdk(tmp_path / "missing.md")
    assert b"Writing ProofPix plugins" in _member(fallback.content, "docs/README.md")


def test_template_scans_clean(tmp_path: Path) -> None:
    content = sdk.python_sdk().content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("template/"):
                target = tmp_path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    report = scan_directory(tmp_path / "template", platform_version=__version__,
                            python_version="3.11")
    assert report.manifest is not None
    assert [f.rule_id for f in report.findings] == []


def test_sdist_holds_the_sources() -> None:
    with tarfile.open(fileobj=io.BytesIO(sdk.build_sdist()), mode="r:gz") as tar:
        names = set(tar.getnames())
    root = f"proofpix_sdk-{__version__}"
    assert {f"{root}/pyproject.toml", f"{root}/PKG-INFO",
            f"{root}/src/proofpix_sdk/__init__.py", f"{root}/src/proofpix_sdk/py.typed"} <= names


@pytest.mark.slow
def test_wheel_installs_offline_into_a_fresh_venv(tmp_path: Path) -> None:
    wheel = tmp_path / WHEEL.removeprefix("dist/")
    wheel.write_bytes(_member(sdk.python_sdk().content, WHEEL))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-deps", "-q", wheel],
                   check=True, timeout=300, capture_output=True)
    out = subprocess.run(
        [python, "-c", "import proofpix_sdk, importlib.metadata as m; "
         "print(proofpix_sdk.Plugin.__name__, m.version('proofpix-sdk'))"],
        check=True, timeout=60, capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.stdout.split() == ["Plugin", __version__]
    assert sys.executable != str(python)
