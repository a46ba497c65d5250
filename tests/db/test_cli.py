"""`proofpix-plugins db upgrade | check` as an operator runs them: real processes, real files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from proofpix_plugins.models import Base
from proofpix_plugins.models.marketplace_search import is_search_object


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFPIX_")}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"  # keep Rich from wrapping the messages the tests look for
    return subprocess.run(
        [sys.executable, "-m", "proofpix_plugins.cli.main", "db", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        # Discovery's FTS5 tables are DDL the models cannot declare (models/marketplace_search).
        return {r[0] for r in rows if not is_search_object(r[0], "table")}
    finally:
        conn.close()


def test_upgrade_creates_the_default_sqlite_database_under_dot_data(tmp_path: Path) -> None:
    result = _cli("upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _tables(tmp_path / ".data" / "proofpix.db") == set(Base.metadata.tables) | {
        "alembic_version"
    }


def test_upgrade_honours_the_data_dir_setting(tmp_path: Path) -> None:
    result = _cli("upgrade", cwd=tmp_path, env={"PROOFPIX_DATA_DIR": str(tmp_path / "state")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "state" / "proofpix.db").is_file()
    assert not (tmp_path / ".data").exists()


def test_check_passes_on_a_database_matching_the_models(tmp_path: Path) -> None:
    result = _cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no drift" in result.stderr


def test_check_exits_one_and_names_the_drift(tmp_path: Path) -> None:
    assert _cli("upgrade", cwd=tmp_path).returncode == 0
    conn = sqlite3.connect(tmp_path / ".data" / "proofpix.db")
    try:
        conn.execute("DROP INDEX ix_plugin_hooks_organization_id_hook_name")
        conn.commit()
    finally:
        conn.close()
    result = _cli("check", cwd=tmp_path)
    assert result.returncode == 1
    assert "ix_plugin_hooks_organization_id_hook_name" in result.stderr


def test_unsupported_database_url_exits_two_with_the_rule(tmp_path: Path) -> None:
    result = _cli("upgrade", cwd=tmp_path, env={"PROOFPIX_DATABASE_URL": "mysql://u:pw@h/db"})
    assert result.returncode == 2
    assert "unsupported database driver 'mysql'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_exits_two_without_a_traceback_or_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://u:s3cret@127.0.0.1:1/nothing"
    result = _cli("upgrade", cwd=tmp_path, env={"PROOFPIX_DATABASE_URL": url})
    assert result.returncode == 2
    assert "db upgrade failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_check_passes_on_postgresql(postgres_database: URL, tmp_path: Path) -> None:
    url = postgres_database.render_as_string(hide_password=False)
    result = _cli("check", cwd=tmp_path, env={"PROOFPIX_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "no drift" in result.stderr
