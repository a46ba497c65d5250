"""Wire shapes of the publishing API: submissions, moderation, public key and log (camelCase)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Path
from pydantic import ConfigDict, Field

from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.models.marketplace import SubmissionStatus

_T0: Final = "2026-12-01T09:30:00Z"
EXAMPLE_ID: Final = "3f0c9a52-7d4e-4b1a-9c2f-5e6d7a8b9c0d"
_SHA: Final = "9f2c" + "0" * 60
_SIG: Final = "A" * 86 + "=="

SubmissionId = Annotated[str, Path(
    pattern="^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
    description="The submission's id (a UUID), as the submit answer gives it.",
    examples=[EXAMPLE_ID],
)]


class SubmissionAccepted(CamelResponse):
    """A submission accepted for processing; poll `statusUrl` for the outcome."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": EXAMPLE_ID, "status": "pending", "pluginId": "proofpix.exif-reader",
        "version": "1.2.0", "statusUrl": f"/api/developers/submissions/{EXAMPLE_ID}",
    }]})

    id: uuid.UUID
    """The submission's id."""
    status: SubmissionStatus
    """Always `pending` here: the scan runs in the background."""
    plugin_id: str
    """The plugin id read from the package's manifest."""
    version: str
    """The version read from the package's manifest."""
    status_url: str
    """Where to read the submission's status and scan report."""


class SubmissionOut(CamelResponse):
    """A submission: where it is in the pipeline, its scan report and any decision."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": EXAMPLE_ID, "pluginId": "proofpix.exif-reader", "version": "1.2.0",
        "status": "in_review", "artifactSha256": _SHA, "sizeBytes": 18234,
        "scanReport": {"schemaVersion": 1, "rejected": False, "findings": []},
        "reviewReasons": ["new permissions: http"], "decisionReason": None,
        "createdAt": _T0, "updatedAt": _T0, "decidedAt": None,
    }]})

    id: uuid.UUID
    """The submission's id."""
    plugin_id: str
    """The plugin id from the manifest."""
    version: str
    """The submitted version."""
    status: SubmissionStatus
    """`pending` → `scanning` → `in_review` / `published` / `rejected`."""
    artifact_sha256: str
    """sha256 of the uploaded package."""
    size_bytes: int
    """Size of the uploaded package in bytes."""
    scan_report: dict[str, Any] | None
    """The full scan report as `proofpix-plugins plugin validate --format json` prints it;
    null until the scan has run."""
    review_reasons: list[str]
    """Why it went to review, or the blocking findings that rejected it."""
    decision_reason: str | None
    """The reviewer's reason (or the pipeline's), shown to the developer."""
    created_at: datetime
    """When it was submitted."""
    updated_at: datetime
    """When it last changed."""
    decided_at: datetime | None
    """When it was published or rejected."""


class AdminSubmissionOut(SubmissionOut):
    """A submission as the moderation queue shows it, with the diff against the last version."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": EXAMPLE_ID, "pluginId": "proofpix.exif-reader", "version": "1.2.0",
        "status": "in_review", "artifactSha256": _SHA, "sizeBytes": 18234,
        "scanReport": None, "reviewReasons": ["new permissions: http"],
        "decisionReason": None, "createdAt": _T0, "updatedAt": _T0, "decidedAt": None,
        "developerId": EXAMPLE_ID, "releaseNotes": "Adds the Slack connector.",
        "diff": {"previousVersion": "1.1.0",
                 "permissions": {"added": ["http"], "removed": []},
                 "hosts": {"added": ["hooks.slack.com"], "removed": []},
                 "secretKeys": {"added": [], "removed": []},
                 "findings": {"warningsBefore": 0, "warningsAfter": 0, "newRuleIds": []}},
    }]})

    developer_id: uuid.UUID
    """The submitting developer."""
    release_notes: str
    """The developer's release notes."""
    diff: dict[str, Any] | None
    """Permissions, hosts, secret config keys and findings compared with the newest
    published version (`previousVersion` null for a first version); null before the scan."""


class DecisionIn(CamelModel):
    """An approval, optionally with a reason the developer will see."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Checked the "
                                                               "new http host."}]})

    reason: Annotated[str, Field(max_length=2000)] | None = None
    """Why it was approved (optional)."""


class RejectionIn(CamelModel):
    """A rejection: the reason is required and shown to the developer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reason": "The new host is not explained in the release notes."}]})

    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    """Why it was rejected (shown to the developer as `decisionReason`)."""


class PublicKeyOut(CamelResponse):
    """The marketplace's ed25519 public key: it signs every published artifact and the log."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "keyId": _SHA, "algorithm": "ed25519",
        "publicKeyPem": "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n",
    }]})

    key_id: str
    """sha256 hex of the raw public key; `signingKeyId` of every version it signed."""
    algorithm: str
    """Always `ed25519`."""
    public_key_pem: str
    """The key as a SubjectPublicKeyInfo PEM."""


class LogHead(CamelResponse):
    """The newest entry when this page was read, signed by the marketplace key."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"seq": 1, "hash": _SHA, "signature": _SIG}]})

    seq: int
    """Sequence number of the newest entry (0: the log is empty)."""
    hash: str
    """`entryHash` of that entry."""
    signature: str
    """Base64 ed25519 signature over `"<seq>:<hash>"` under the `publog.head.v1` context."""


_ENTRY: Final[dict[str, Any]] = {
    "seq": 1, "prevHash": "0" * 64, "action": "publish", "pluginId": "proofpix.exif-reader",
    "version": "1.0.0", "artifactSha256": _SHA, "signature": _SIG,
    "detail": {"signingKeyId": _SHA}, "createdAt": "2026-12-01T09:30:00.000000+00:00",
    "entryHash": _SHA,
}


class LogEntryOut(CamelResponse):
    """One publication-log entry: the fields its hash covers, and that hash."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_ENTRY]})

    seq: int
    """1, 2, 3, ... without gaps."""
    prev_hash: str
    """`entryHash` of the previous entry (64 zeros for the first)."""
    action: str
    """`publish`, `review`, `yank`, `suspend`, ..."""
    plugin_id: str
    """The plugin the entry is about (empty for key changes)."""
    version: str
    """The version, when the entry is about one."""
    artifact_sha256: str
    """sha256 of the artifact, for `publish`."""
    signature: str
    """The marketplace's signature over the artifact's sha256, for `publish`."""
    detail: dict[str, Any]
    """Action-specific detail (reasons, submission and key ids)."""
    created_at: str
    """When it was appended (ISO 8601, microseconds, UTC offset)."""
    entry_hash: str
    """sha256 of the canonical JSON of every field above."""


class LogPage(CamelResponse):
    """A page of the publication log after a sequence number, and the signed head."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [_ENTRY],
        "total": 1, "after": 0, "limit": 100, "nextAfter": None,
        "head": {"seq": 1, "hash": _SHA, "signature": _SIG},
    }]})

    items: list[LogEntryOut]
    """Entries with `seq` > `after`, at most `limit`, up to the head, oldest first."""
    total: int
    """How many entries the log holds (the head's `seq`)."""
    after: int
    """The `after` asked for."""
    limit: int
    """The page size asked for."""
    next_after: int | None
    """`after` for the next page, or null when this page reaches the head."""
    head: LogHead
    """The signed head as of this page: verify the chain up to it."""


class RescanOut(CamelResponse):
    """The re-scan job queued (or already queued) for the running rule set."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "jobId": EXAMPLE_ID, "rulesVersion": "4be1f0c29a7d3e55", "created": True}]})

    job_id: uuid.UUID
    """The background job (see `/api/admin/jobs/{id}`)."""
    rules_version: str
    """The rule set the published versions are re-scanned under."""
    created: bool
    """False when a re-scan for this rule set was already queued."""
