"""Shared helpers for the runtime's tests: base dirs plugin uids can traverse, plugin trees."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from proofpix_plugins.runtime.spec import CallInfo, HookBinding, PluginSpec


@contextmanager
def traversable_dir(prefix: str) -> Iterator[Path]:
    """A fresh dir under /tmp (pytest's tmp_path sits under a 0700 dir plugin uids can't cross)."""
    path = Path("/tmp") / f"{prefix}-{secrets.token_hex(4)}"
    path.mkdir(mode=0o711)
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def plugin_tree(base: Path, name: str, source: str, files: Mapping[str, str] | None = None) -> Path:
    """A plugin package ``plugin/__init__.py`` readable by any uid."""
    root = base / name
    pkg = root / "plugin"
    pkg.mkdir(parents=True)
    for d in (root, pkg):
        d.chmod(0o755)
    (pkg / "__init__.py").write_text(source)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            Path(dirpath, name).chmod(0o755)
        for name in filenames:
            Path(dirpath, name).chmod(0o644)
    return root


def make_spec(
    root: Path,
    plugin_id: str,
    hooks: Mapping[str, str],
    *,
    org_id: str = "org-1",
    permissions: frozenset[str] = frozenset(),
    **kw: Any,
) -> PluginSpec:
    return PluginSpec(
        org_id=org_id,
        plugin_id=plugin_id,
        version="1.0.0",
        root=root,
        hooks={h: HookBinding(handler) for h, handler in hooks.items()},
        permissions=permissions,
        **kw,
    )


def info_for(
    spec: PluginSpec, hook: str, *, file_id: str | None = None, depth: int = 0
) -> CallInfo:
    return CallInfo(
        org_id=spec.org_id,
        plugin_id=spec.plugin_id,
        hook=hook,
        call_id=uuid.uuid4().hex,
        file_id=file_id,
        depth=depth,
    )


def pid_exists(pid: int) -> bool:
    """A live (non-zombie) process with this pid."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def template_children(pid: int) -> set[int]:
    """Direct children of a (single-threaded) process, from /proc."""
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return {int(c) for c in fh.read().split()}
