"""Accepting a submission: the cheap checks, the artifact, the row and its durable job.

Everything that can refuse an upload runs before anything is written: the archive listing and
manifest (no code is parsed here), the namespace, the version order and the developer's
signature. Only then is the artifact stored and the submission row and its job committed
together, so a refused upload leaves no row and no reference to its bytes (an unreferenced
blob is collected by ``storage/gc.py``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.developers.auth import DeveloperPrincipal
from proofpix_plugins.errors import BadRequest, FieldError, ValidationFailed
from proofpix_plugins.jobs import JobQueue
from proofpix_plugins.marketplace.admission import check_admissible
from proofpix_plugins.marketplace.signing_keys import active_signing_keys
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import Submission, SubmissionStatus
from proofpix_plugins.packages.archive import read_archive
from proofpix_plugins.packages.manifest import Manifest, parse_manifest
from proofpix_plugins.packages.signing import signed_message
from proofpix_plugins.storage.blobstore import BlobStore

PROCESS_SUBMISSION = "marketplace.process_submission"


@dataclass(frozen=True)
class Peeked:
    sha256: str
    size: int
    manifest: Manifest


def peek(path: Path) -> Peeked:
    """The archive's digest and manifest: reads the central directory and plugin.json only."""
    archive = read_archive(path)
    return Peeked(archive.sha256, archive.size, parse_manifest(archive.manifest_bytes))


def _signature_ok(key: Ed25519PublicKey, sha256: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, signed_message(sha256))
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


async def signer_of(
    session: AsyncSession, developer_id: uuid.UUID, sha256: str, signature: str | None
) -> str | None:
    """The fingerprint of the active key that signed the artifact (None: unsigned, allowed).

    Once a developer has an active key, every submission must carry a signature by one of
    them. A signature that verifies with no active key is refused even when none is required:
    a revoked key's signature must not pass as a good one.
    """
    keys = await active_signing_keys(session, developer_id)
    if signature is None:
        if keys:
            raise BadRequest(
                "this developer has a signing key: the submission must be signed",
                errors=(FieldError("signature", "is required once a signing key is "
                                   "registered (proofpix-plugins plugin sign)",
                                   "signature-required"),),
            )
        return None
    for fingerprint, key in keys:
        if _signature_ok(key, sha256, signature):
            return fingerprint
    raise ValidationFailed(
        "the signature does not verify with any active signing key of this developer",
        errors=(FieldError("signature", "does not match the package digest and an active "
                           "signing key", "PPX-SIG-INVALID"),),
    )


async def submit(
    session: AsyncSession,
    developer: DeveloperPrincipal,
    package: Path,
    *,
    release_notes: str,
    signature: str | None,
    blobs: BlobStore,
    queue: JobQueue,
) -> Submission:
    """Check, store and enqueue one submission (staged in ``session``; the caller commits)."""
    peeked = await asyncio.to_thread(peek, package)
    manifest = peeked.manifest
    await check_admissible(
        session, developer_id=developer.developer_id, namespace=developer.namespace,
        plugin_id=manifest.id, version=manifest.version,
    )
    fingerprint = await signer_of(session, developer.developer_id, peeked.sha256, signature)
    await blobs.put_file(package)
    now = utcnow()
    submission = Submission(
        id=uuid.uuid4(),
        developer_id=developer.developer_id,
        plugin_id=manifest.id,
        version=manifest.version,
        artifact_sha256=peeked.sha256,
        size_bytes=peeked.size,
        status=SubmissionStatus.pending,
        release_notes=release_notes,
        developer_signature=signature,
        developer_key_fingerprint=fingerprint,
        review_reasons=[],
        created_at=now,
        updated_at=now,
    )
    session.add(submission)
    await session.flush()
    job = await queue.enqueue(session, PROCESS_SUBMISSION, {"submissionId": str(submission.id)},
                              key=f"submission:{submission.id}")
    submission.job_id = job.id
    return submission
