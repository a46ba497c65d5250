"""The bandit driver runs only on the bandit release it is proven on, and never trusts a set
lookup where bandit would match a pattern."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import warnings
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from proofpix_plugins.scanning.checks.bandit_check import (
    PROVEN_BANDIT_VERSION,
    BanditVersionError,
    _gate_call_blacklist,
    require_proven_bandit,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_bandit_is_the_proven_one() -> None:
    # So the equivalence test, which runs on the installed bandit, proves PROVEN_BANDIT_VERSION.
    assert metadata.version("bandit") == PROVEN_BANDIT_VERSION


def test_pyproject_pins_exactly_the_proven_bandit() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("bandit")]
    assert pins == [f"bandit=={PROVEN_BANDIT_VERSION}"]


@pytest.mark.parametrize("installed", ["1.7.9", "1.9.5", "2.0.0", None])
def test_any_other_bandit_is_refused_naming_the_proven_version(installed: str | None) -> None:
    with pytest.raises(BanditVersionError, match=f"proven on bandit {PROVEN_BANDIT_VERSION} only"):
        require_proven_bandit(installed)


def test_importing_the_driver_with_another_bandit_installed_fails() -> None:
    # A fresh interpreter that reports bandit 1.7.9 as installed (the outside world, faked at
    # the package-metadata boundary), then imports the scanner.
    code = (
        "from importlib import metadata\n"
        "real = metadata.version\n"
        "metadata.version = lambda name: '1.7.9' if name == 'bandit' else real(name)\n"
        "import proofpix_plugins.scanning\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode != 0
    assert "BanditVersionError" in proc.stderr
    assert f"proven on bandit {PROVEN_BANDIT_VERSION} only, but bandit 1.7.9" in proc.stderr


def _blacklist_testset(qualnames: list[str]) -> tuple[Any, list[str]]:
    """A test set holding one Call test named like bandit's blacklist, recording what it sees."""
    seen: list[str] = []

    def blacklist(context: Any, config: Any) -> None:
        seen.append(context.call_function_name_qual)

    blacklist._config = {"Call": [{"qualnames": qualnames}]}  # type: ignore[attr-defined]
    return SimpleNamespace(tests={"Call": [blacklist]}), seen


def _call(source: str) -> Any:
    """bandit's context for the call expression ``source``, as its visitor builds it."""
    with warnings.catch_warnings():
        # stevedore (loaded by bandit) warns about its own deprecated arguments: not ours.
        warnings.simplefilter("ignore", DeprecationWarning)
        from bandit.core.context import Context
        from bandit.core.utils import get_call_name
    statement = ast.parse(source).body[0]
    assert isinstance(statement, ast.Expr)
    assert isinstance(statement.value, ast.Call)
    qualname = get_call_name(statement.value, {})
    return Context({"node": statement.value, "call": statement.value, "import_aliases": {},
                    "qualname": qualname, "name": qualname.split(".")[-1]})


def test_the_blacklist_gate_passes_only_listed_calls_when_names_are_exact() -> None:
    testset, seen = _blacklist_testset(["telnetlib.Telnet", "ftplib.FTP"])
    _gate_call_blacklist(testset)
    gated = testset.tests["Call"][0]
    for source in ("telnetlib.Telnet('h')", "os.getcwd()", "ftplib.FTP_TLS('h')"):
        gated(_call(source), None)
    assert seen == ["telnetlib.Telnet"]


def test_the_blacklist_gate_steps_aside_when_a_qualname_is_a_pattern() -> None:
    testset, seen = _blacklist_testset(["telnetlib.*", "ftplib.FTP"])
    _gate_call_blacklist(testset)
    test = testset.tests["Call"][0]
    for source in ("telnetlib.Telnet('h')", "os.getcwd()"):
        test(_call(source), None)
    # bandit < 1.7.10 would match telnetlib.Telnet against telnetlib.*: the test must see it.
    assert seen == ["telnetlib.Telnet", "os.getcwd"]
