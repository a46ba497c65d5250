"""Generated secrets in the data dir: processes starting together agree on one, never read half."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from proofpix_plugins.config import Settings

_NAMES = ("jwt_secret", "config_key", "signing_key.pem")


def _start(data_dir: str, out: multiprocessing.Queue[tuple[str, ...]]) -> None:
    settings = Settings(data_dir=Path(data_dir)).ensure_secrets()
    out.put(tuple(s.get_secret_value() for s in (  # type: ignore[union-attr]
        settings.jwt_secret, settings.config_key, settings.signing_key)))


def test_processes_starting_together_agree_on_every_generated_secret(tmp_path: Path) -> None:
    for attempt in range(5):
        data_dir = tmp_path / f"data{attempt}"
        ctx = multiprocessing.get_context("fork")
        out: multiprocessing.Queue[tuple[str, ...]] = ctx.Queue()
        procs = [ctx.Process(target=_start, args=(str(data_dir), out)) for _ in range(6)]
        for p in procs:
            p.start()
        seen = {out.get(timeout=30) for _ in procs}
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        # One value per secret across all six, none empty, and it is what the files hold.
        assert len(seen) == 1, seen
        (values,) = seen
        assert all(values)
        for name, value in zip(_NAMES, values, strict=True):
            path = data_dir / name
            assert path.read_text().strip() == value.strip()
            assert path.stat().st_mode & 0o077 == 0
        # No temp file is left beside them.
        assert sorted(os.listdir(data_dir)) == sorted(_NAMES)
