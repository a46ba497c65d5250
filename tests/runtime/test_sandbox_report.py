"""Pure rules: the sandbox report and refusal from the layers a host offers; plugin uids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.host.detect import build_report, refusal
from proofpix_plugins.runtime.sandbox.hardening.uid import UID_BASE, UID_SPAN, plugin_uid


def test_unknown_disabled_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="disabled_layers"):
        RuntimeConfig(base_dir=Path("/tmp"), disabled_layers=frozenset({"selinux"}))


@pytest.mark.parametrize("bad", [{"scratch_mb": 0}, {"scratch_inodes": 15}])
def test_scratch_caps_below_their_floor_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="scratch_mb: at least 1; scratch_inodes: at least 16"):
        RuntimeConfig(base_dir=Path("/tmp"), **bad)


def test_host_without_landlock_refuses_untrusted_plugins() -> None:
    layers = {"landlock": False, "seccomp": True, "netns": True, "ipcns": True, "mountns": True,
              "rlimits": True, "uid": True, "uid_table": True, "nnp": True, "cgroup": True,
              "import_policy": True, "scratch_quota": True}
    report = build_report(layers, {}, 0, frozenset(), insecure_dev=False)
    assert report.level == "insecure"
    assert report.missing == ["landlock"]
    reason = refusal(report, layers)
    assert reason is not None
    assert "landlock" in reason
    assert "insecure-dev" in reason


def test_host_without_cgroups_is_degraded_but_allowed() -> None:
    layers = {"landlock": True, "seccomp": True, "netns": True, "ipcns": True, "mountns": True,
              "rlimits": True, "uid": True, "uid_table": True, "nnp": True, "cgroup": False,
              "import_policy": True, "scratch_quota": True}
    report = build_report(layers, {}, 7, frozenset(), insecure_dev=False)
    assert (report.level, report.missing) == ("degraded", ["cgroup"])
    assert refusal(report, layers) is None


def test_plugin_uid_is_deterministic_and_in_the_reserved_range() -> None:
    uid = plugin_uid("org-1", "acme.hard")
    assert uid == plugin_uid("org-1", "acme.hard")
    assert uid != plugin_uid("org-2", "acme.hard")
    assert UID_BASE <= uid < UID_BASE + UID_SPAN
