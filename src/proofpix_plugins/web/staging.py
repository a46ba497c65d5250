"""Packages uploaded through the console, kept between the upload and the consent screen.

The consent screen must show what the package asks for before anything is installed, so the
upload is staged under ``<data dir>/console-staging/<token>.ppx`` with a sidecar naming the user
and organization that uploaded it. Only they can install it, by its token (random, 32 bytes);
a staged package older than :data:`STAGED_TTL_SECONDS` is deleted by the next upload.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from proofpix_plugins.packages.archive import read_archive
from proofpix_plugins.packages.manifest import Manifest

STAGED_TTL_SECONDS = 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class Staged:
    token: str
    path: Path
    manifest: Manifest


class Staging:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, token: str) -> tuple[Path, Path]:
        return self.root / f"{token}.ppx", self.root / f"{token}.json"

    def stage(self, upload: Path, user_id: uuid.UUID, org_id: uuid.UUID) -> str:
        """Move an uploaded package in (the caller's file is gone afterwards); its token."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep()
        token = secrets.token_urlsafe(32)
        package, owner = self._paths(token)
        shutil.move(upload, package)
        owner.write_text(json.dumps({"user": str(user_id), "org": str(org_id)}))
        return token

    def open(self, token: str, user_id: uuid.UUID, org_id: uuid.UUID) -> Path | None:
        """The staged package of this user and organization, or None (unknown, expired, other)."""
        if not _TOKEN.match(token):
            return None
        package, owner = self._paths(token)
        try:
            data = json.loads(owner.read_text())
        except (OSError, ValueError):
            return None
        if data != {"user": str(user_id), "org": str(org_id)} or not package.is_file():
            return None
        return package

    def discard(self, token: str) -> None:
        if _TOKEN.match(token):
            for path in self._paths(token):
                path.unlink(missing_ok=True)

    def sweep(self) -> None:
        cutoff = time.time() - STAGED_TTL_SECONDS
        for path in self.root.glob("*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except OSError:
                continue


def read_manifest(package: Path) -> Manifest:
    """The manifest of a package, for the consent screen (the install re-validates it all)."""
    archive = read_archive(package)
    return Manifest.model_validate_json(archive.manifest_bytes)
