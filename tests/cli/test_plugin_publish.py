"""`plugin publish` against a real HTTP server implementing the submission contract
(tests/cli/publish_server.py): exit codes 0 published, 3 in review, 4 rejected, 1 server
error with the problem detail, 2 bad input; packing and signing on the way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofpix_plugins.cli.main import app
from proofpix_plugins.packages.signing import generate_keypair
from tests.cli.publish_server import API_KEY, Market, serve

runner = CliRunner()


@pytest.fixture(scope="module")
def market() -> Iterator[tuple[Market, str]]:
    m = Market()
    with serve(m) as url:
        yield m, url


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    target = tmp_path / "pub"
    result = runner.invoke(app, ["plugin", "init", "pub-demo", "--type", "utility",
                                 "--publisher", "acme", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    return target


def _publish(url: str, *args: str, key: str | None = API_KEY, env: dict[str, str] | None = None):
    full_env = {"PROOFPIX_API_KEY": key or "", "PROOFPIX_SIGNING_KEY_FILE": ""}
    full_env.update(env or {})
    return runner.invoke(app, ["plugin", "publish", *args, "--server", url, "--interval", "0.05"],
                         env=full_env, catch_exceptions=False)


def test_publish_a_directory_is_packed_submitted_and_published(market, plugin_dir) -> None:
    m, url = market
    result = _publish(url, str(plugin_dir), "--json")
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout)
    assert final["status"] == "published"
    assert final["pluginId"] == "acme.pub-demo"
    assert m.received[-1]["signature"] is None


def test_in_review_exits_3_with_the_reasons(market, plugin_dir) -> None:
    _, url = market
    result = _publish(url, str(plugin_dir), "--notes", "please review")
    assert result.exit_code == 3, result.output
    assert "in review" in result.stdout
    assert "first version of this plugin" in result.stdout


def test_rejected_exits_4_and_prints_the_scan_report(market, plugin_dir) -> None:
    _, url = market
    init = plugin_dir / "plugin" / "__init__.py"
    init.write_text(init.read_text() + "\nimport subprocess\n")
    result = _publish(url, str(plugin_dir))
    assert result.exit_code == 4, result.output
    assert "rejected" in result.stdout
    assert "PPX-MOD-SUBPROCESS" in result.stdout
    assert "plugin/__init__.py:" in result.stdout


def test_a_wrong_api_key_exits_1_with_the_problem_detail(market, plugin_dir) -> None:
    _, url = market
    result = _publish(url, str(plugin_dir), key="wrong")
    assert result.exit_code == 1
    assert "HTTP 401: invalid API key" in result.output


def test_an_unreachable_server_exits_1(plugin_dir) -> None:
    result = _publish("http://127.0.0.1:9", str(plugin_dir))
    assert result.exit_code == 1
    assert "cannot reach" in result.output


def test_missing_api_key_and_bad_input_exit_2(market, plugin_dir, tmp_path) -> None:
    _, url = market
    no_key = _publish(url, str(plugin_dir), key=None)
    assert no_key.exit_code == 2
    assert "PROOFPIX_API_KEY" in no_key.output
    assert _publish(url, str(tmp_path / "nothing")).exit_code == 2
    assert _publish("ftp://x", str(plugin_dir)).exit_code == 2


def test_signing_with_the_configured_key(market, plugin_dir, tmp_path) -> None:
    m, url = market
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "dev.key"
    key.write_bytes(private_pem)
    m.public_key = public_pem
    try:
        unsigned = _publish(url, str(plugin_dir))
        assert unsigned.exit_code == 1
        assert "must be signed" in unsigned.output
        signed = _publish(url, str(plugin_dir), env={"PROOFPIX_SIGNING_KEY_FILE": str(key)})
        assert signed.exit_code == 0, signed.output
        assert m.received[-1]["signature"]
        other_private, _ = generate_keypair()
        (tmp_path / "other.key").write_bytes(other_private)
        wrong = _publish(url, str(plugin_dir), "--key", str(tmp_path / "other.key"))
        assert wrong.exit_code == 1
        assert "does not verify" in wrong.output
    finally:
        m.public_key = None


def test_publish_a_ppx_and_the_api_key_file(market, plugin_dir, tmp_path) -> None:
    _, url = market
    ppx = tmp_path / "demo.ppx"
    packed = runner.invoke(app, ["plugin", "pack", str(plugin_dir), "-o", str(ppx)])
    assert packed.exit_code == 0, packed.output
    key_file = tmp_path / "api.key"
    key_file.write_text(API_KEY + "\n")
    result = _publish(url, str(ppx), "--api-key-file", str(key_file), key=None)
    assert result.exit_code == 0, result.output
    assert "published" in result.stdout
