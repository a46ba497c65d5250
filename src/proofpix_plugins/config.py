"""Settings (prefix ``PROOFPIX_``) and the secrets the embedded default generates once.

Settings are built in the app factory and the CLI, never at import time. In production mode the
platform refuses to start with generated or default secrets: an operator must supply them.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SandboxMode(StrEnum):
    """``enforce`` refuses untrusted plugins when a sandbox layer is missing."""

    enforce = "enforce"
    insecure_dev = "insecure-dev"


class BlobStoreKind(StrEnum):
    """Where blobs live: the data dir (one machine) or an S3-compatible bucket (many)."""

    fs = "fs"
    s3 = "s3"


class InsecureConfiguration(RuntimeError):
    """Production mode was asked to run with generated or default secrets."""


PLUGIN_OPS_LIMIT = "10/15minutes"
DEVELOPMENT_PLUGIN_OPS_LIMIT = "300/15minutes"


def _new_ed25519_pem() -> str:
    # packages/platform_key.py uses it; config may not import a domain package.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROOFPIX_", extra="ignore")

    env: Environment = Environment.development
    data_dir: Path = Path(".data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite in the data dir"
    )
    redis_url: str | None = Field(
        default=None, description="Redis for shared rate limits and event fan-out"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Unset: console lines in development, JSON lines elsewhere.
    log_json: bool | None = None

    jwt_secret: SecretStr | None = Field(default=None, description="HS256 key; generated if unset")
    config_key: SecretStr | None = Field(
        default=None, description="Fernet key encrypting x-secret config values; generated if unset"
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description=(
            "The platform's ed25519 private key (PKCS#8 PEM) signing marketplace artifacts and "
            "photo proofs; generated into the data dir if unset"
        ),
    )
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86400, ge=3600)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    #: PostgreSQL with Redis (SQLite checks data_version; without Redis nothing is cached): how
    #: long a process trusts its cached copy of a user's auth epoch when no invalidation
    #: reaches it (hand-written SQL); 0: never.
    auth_epoch_cache_seconds: float = Field(default=1.0, ge=0, le=5)
    #: How long a process serves a cached plugin list or detail when no event announces a
    #: change (events drop it at once); 0 disables the cache.
    plugin_read_cache_seconds: float = Field(default=1.0, ge=0, le=5)
    rate_limit_default: str = "300/minute"
    rate_limit_auth: str = "20/minute"
    # Unset: 10 per 15 minutes (the brief) except in development, where an author's
    # edit-install-load loop costs three operations a change.
    rate_limit_plugin_ops: str | None = None
    rate_limit_hooks: str = "6000/minute"
    rate_limit_uploads: str = "120/minute"

    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Every other request body (JSON): routes that stream uploads declare multipart bodies.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A request body that sends nothing for this long is answered 408 and dropped.
    body_read_timeout_seconds: float = Field(default=30.0, gt=0)

    blob_store: BlobStoreKind = BlobStoreKind.fs
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint; unset: AWS (or AWS_ENDPOINT_URL)"
    )
    s3_bucket: str | None = None
    s3_region: str | None = None
    # Unset: the standard AWS credential sources (AWS_ACCESS_KEY_ID …, instance metadata).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    #: A blob no row names is deleted once it was last written this long ago (see storage/gc.py).
    blob_gc_grace_seconds: float = Field(default=3600.0, ge=0)
    blob_gc_interval_seconds: float = Field(default=600.0, gt=0)

    sandbox: SandboxMode = SandboxMode.enforce
    worker_max_live: int = Field(default=64, ge=1)
    worker_idle_seconds: float = Field(default=600.0, gt=0)
    worker_recycle_calls: int = Field(default=10_000, ge=1)
    worker_recycle_rss_mb: int = Field(default=512, ge=16)
    # Each plugin's scratch dir is a capped tmpfs on root hosts (at most half its memory_mb).
    worker_scratch_mb: int = Field(default=128, ge=1)
    worker_scratch_inodes: int = Field(default=4096, ge=16)
    circuit_breaker_threshold: int = Field(default=5, ge=1)
    # How long a call with no caller timeout may wait for its plugin's busy worker.
    worker_queue_wait_seconds: float = Field(default=5.0, gt=0, le=300)
    plugin_metrics_flush_seconds: float = Field(default=10.0, gt=0)
    # How often each process reads the plugin state clock (plugins/convergence.py): the bound
    # on convergence when a hub announcement is lost, and the only channel without Redis.
    plugin_reconcile_seconds: float = Field(default=0.25, gt=0, le=60)
    # bandit in warm worker processes, overlapping the scanner's own checks, for packages with
    # this much Python or more (below it, inline is faster: docs/performance.md).
    scan_bandit_workers: int = Field(default=2, ge=0, le=16)
    scan_parallel_min_bytes: int = Field(default=256 * 1024, ge=0)
    plugin_storage_max_keys: int = Field(default=1000, ge=1)
    plugin_storage_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Background jobs: slots per process (0: this process runs none, it only enqueues).
    jobs_concurrency: int = Field(default=2, ge=0, le=64)
    jobs_lease_seconds: float = Field(default=30.0, ge=1)
    jobs_poll_seconds: float = Field(default=1.0, gt=0)
    jobs_retention_days: float = Field(default=7.0, gt=0)
    # Per-minute plugin call metrics older than this are deleted by an hourly job.
    plugin_metrics_retention_days: float = Field(default=30.0, gt=0)
    # Test-only: hosts the http capability may reach even on loopback. Never set in production.
    http_test_allow_loopback: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Marketplace discovery: how long a process keeps the featured list and facet counts when
    # no write moves the validity token (any write drops them at once); 0 disables the cache.
    marketplace_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    # The same for whole public answers (a search page, the featured page), serialized once:
    # shorter, because download counts shown in them move without moving the token; 0 disables.
    marketplace_page_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    # How often buffered download and search-term counts are written (and on shutdown).
    marketplace_counter_flush_seconds: float = Field(default=5.0, gt=0, le=300)
    # How often the server hands the C heap's free pages back to the OS (glibc's malloc_trim;
    # kit/heap_trim.py): after a burst of image work RSS returns to the load's; 0 disables.
    memory_trim_seconds: float = Field(default=10.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _defaults_by_environment(self) -> Settings:
        development = self.env is Environment.development
        if self.log_json is None:
            self.log_json = not development
        if self.rate_limit_plugin_ops is None:
            self.rate_limit_plugin_ops = (
                DEVELOPMENT_PLUGIN_OPS_LIMIT if development else PLUGIN_OPS_LIMIT
            )
        return self

    @model_validator(mode="after")
    def _object_storage_is_complete(self) -> Settings:
        if self.blob_store is BlobStoreKind.s3 and not self.s3_bucket:
            raise ValueError("PROOFPIX_BLOB_STORE=s3 needs PROOFPIX_S3_BUCKET")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "set both PROOFPIX_S3_ACCESS_KEY_ID and PROOFPIX_S3_SECRET_ACCESS_KEY, or neither"
            )
        return self

    @field_validator("cors_origins", "http_test_allow_loopback", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'proofpix.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def plugin_dir(self) -> Path:
        return self.data_dir / "plugins"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "scratch"

    def ensure_secrets(self) -> Settings:
        """Fill unset secrets from files in the data dir, generating them once.

        Returns a copy; production refuses any generated secret.
        """
        generated: list[str] = []
        jwt = self.jwt_secret
        if jwt is None:
            jwt = SecretStr(self._kept_secret("jwt_secret", lambda: secrets.token_urlsafe(48)))
            generated.append("PROOFPIX_JWT_SECRET")
        key = self.config_key
        if key is None:
            key = SecretStr(
                self._kept_secret("config_key", lambda: base64.urlsafe_b64encode(
                    os.urandom(32)).decode())
            )
            generated.append("PROOFPIX_CONFIG_KEY")
        signing = self.signing_key
        if signing is None:
            signing = SecretStr(self._kept_secret("signing_key.pem", _new_ed25519_pem))
            generated.append("PROOFPIX_SIGNING_KEY")
        if self.env is Environment.production:
            if generated:
                raise InsecureConfiguration(
                    "production mode needs explicit secrets; unset: " + ", ".join(generated)
                )
            if len(jwt.get_secret_value()) < 32:
                raise InsecureConfiguration("PROOFPIX_JWT_SECRET must be at least 32 characters")
            if self.sandbox is SandboxMode.insecure_dev:
                raise InsecureConfiguration(
                    "PROOFPIX_SANDBOX=insecure-dev is refused in production"
                )
            if self.http_test_allow_loopback:
                raise InsecureConfiguration(
                    "PROOFPIX_HTTP_TEST_ALLOW_LOOPBACK is a test switch, refused in production"
                )
        return self.model_copy(
            update={"jwt_secret": jwt, "config_key": key, "signing_key": signing}
        )

    def _kept_secret(self, name: str, make: Callable[[], str]) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / name
        if path.exists():
            return path.read_text().strip()
        value = make()
        # Written whole to a private temp file, then hard-linked into place: link() fails if the
        # name exists, so two processes starting together agree on one secret, and neither can
        # read a created-but-not-yet-written (empty) file, as an O_EXCL create-then-write could.
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.data_dir)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return path.read_text().strip()
        finally:
            os.unlink(tmp)
        # As a later start reads it back, so every process holds the same text.
        return value.strip()
