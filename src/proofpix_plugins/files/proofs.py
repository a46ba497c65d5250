"""Signed proofs of a photo and its export, each firing its host hook through the HookRunner.

Proof (``POST /api/files/{id}/proofs``): the sha256 of the original, the EXIF the host read,
what plugins stored and returned, a timestamp and the platform key id, as canonical JSON
signed with the platform key under context ``proof.v1`` (``proof_document.py``). The row
(the exact signed bytes) is committed first; ``proof:created`` then runs (parallel) on the
organization's loaded plugins, so a connector never announces a proof that does not exist.

Export (``GET /api/files/{id}/export``): a zip of the photo's variants and ``manifest.json``
(file facts, metadata, plugin results, proofs). ``export:before`` runs as a waterfall on the
manifest; every manifest a plugin returns is validated (schema, 4 MiB bound, invariants:
``manifestVersion``, ``file.id``, ``file.sha256`` kept, ``variants`` only shrink, ``proofs``
only dropped, never altered) before it is used. **Fail closed**: a plugin that fails (error,
timeout, crash, denied) or returns an invalid manifest fails the export with a 502 naming it,
because the plugin that failed may be the one redacting the GPS position.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Conflict, FieldError, NotFound, ProofPixError
from proofpix_plugins.files.hooks import HookRunner
from proofpix_plugins.files.payloads import EXPORT_MANIFEST_SCHEMA, canonical_json, validator_for
from proofpix_plugins.files.proof_document import (
    ALGORITHM,
    PROOF_CONTEXT,
    sign_proof,
    wire_proof,
)
from proofpix_plugins.files.repository import FileRepository
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.models.files import File, FilePluginResult, FileStatus
from proofpix_plugins.models.proofs import FileProof
from proofpix_plugins.packages.platform_key import PlatformKey
from proofpix_plugins.runtime.hooks.options import HookOptions
from proofpix_plugins.runtime.hooks.results import HookResult
from proofpix_plugins.storage.blobstore import BlobStore

MAX_EXPORT_MANIFEST_BYTES: Final = 4 * 1024 * 1024
_WATERFALL: Final = HookOptions(mode="waterfall")
_EXTENSIONS: Final = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
                      "image/gif": "gif", "image/tiff": "tif", "image/bmp": "bmp"}
_MANIFEST_VALIDATOR = validator_for(EXPORT_MANIFEST_SCHEMA)

_file_id = partial(as_uuid, error=NotFound, message="file not found")



async def _settled_file(repo: FileRepository, org_id: uuid.UUID, fid: uuid.UUID,
                        verb: str) -> File:
    """The organization's file, once its plugins have finished (proof and export need both)."""
    row = await repo.get(org_id, fid)
    if row is None:
        raise NotFound("file not found")
    if row.status is FileStatus.processing:
        raise Conflict(
            f"the file's plugins are still running; {verb} it once they finish",
            errors=(FieldError("status", "is processing", "in-progress", "processing"),),
        )
    return row

class PluginOutputRefused(ProofPixError):
    """A plugin on the export path failed or returned something the host cannot use."""

    status = 502
    title = "Bad Gateway"
    slug = "plugin-output-refused"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _result_wire(r: FilePluginResult) -> dict[str, Any]:
    out: dict[str, Any] = {"hook": r.hook_name, "pluginId": r.plugin_id, "status": r.status,
                           "durationMs": round(r.duration_ms, 3)}
    if r.status == "ok":
        out["result"] = r.result
    else:
        out["error"] = r.error
    return out


class ProofService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        hooks: HookRunner,
        key: PlatformKey,
    ) -> None:
        self._sf = session_factory
        self._blobs = blobs
        self._hooks = hooks
        self._key = key

    # -- proofs -----------------------------------------------------------------------------

    async def create(
        self, org_id: uuid.UUID, user_id: uuid.UUID | None, file_id: str
    ) -> tuple[dict[str, Any], HookResult]:
        """Sign, store, then fire ``proof:created``; answers the proof and the hook's result."""
        fid = _file_id(file_id)
        proof_id = uuid.uuid4()
        now = datetime.now(UTC)
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            row = await _settled_file(repo, org_id, fid, "prove")
            results = await repo.results_of(fid)
            plugins = await repo.plugin_metadata(fid)
            document = self._document(row, proof_id, now, results, plugins)
            signed = sign_proof(self._key, document)
            session.add(FileProof(
                id=proof_id, file_id=fid, organization_id=org_id, created_by=user_id,
                sha256=row.sha256, key_id=self._key.key_id, signature=signed.signature,
                document=signed.canonical.decode("utf-8"), created_at=now,
            ))
        proof = signed.to_wire()
        payload = {"proofId": proof["id"], "fileId": proof["fileId"], "sha256": proof["sha256"],
                   "createdAt": proof["createdAt"], "keyId": proof["keyId"],
                   "signature": proof["signature"], "document": proof["document"]}
        outcome = await self._hooks.execute_hook(org_id, "proof:created", payload,
                                                 file_id=str(fid))
        return proof, outcome

    def _document(
        self, row: File, proof_id: uuid.UUID, now: datetime,
        results: list[FilePluginResult], plugins: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        return {
            "proofVersion": 1,
            "proofId": str(proof_id),
            "fileId": str(row.id),
            "organizationId": str(row.organization_id),
            "file": {
                "filename": row.filename, "contentType": row.content_type,
                "sizeBytes": row.size_bytes, "sha256": row.sha256,
                "processedSha256": row.processed_sha256, "width": row.width,
                "height": row.height, "uploadedAt": iso(row.created_at),
            },
            "metadata": {"exif": row.exif or {}, "plugins": plugins},
            "pluginResults": [_result_wire(r) for r in results],
            "createdAt": iso(now),
            "keyId": self._key.key_id,
            "algorithm": ALGORITHM,
            "context": PROOF_CONTEXT,
        }

    async def list_proofs(
        self, org_id: uuid.UUID, file_id: str, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        fid = _file_id(file_id)
        async with session_scope(self._sf) as session:
            if await FileRepository(session).get(org_id, fid) is None:
                raise NotFound("file not found")
            rows, total = await self._proofs(session, org_id, fid, offset=offset, limit=limit)
        return [wire_proof(r.document, r.signature) for r in rows], total

    @staticmethod
    async def _proofs(
        session: AsyncSession, org_id: uuid.UUID, fid: uuid.UUID, *, offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[FileProof], int]:
        where = (FileProof.file_id == fid, FileProof.organization_id == org_id)
        total = int((await session.execute(
            select(func.count()).select_from(FileProof).where(*where))).scalar_one())
        stmt = (select(FileProof).where(*where)
                .order_by(FileProof.created_at, FileProof.id).offset(offset))
        if limit is not None:
            stmt = stmt.limit(limit)
        return list((await session.execute(stmt)).scalars().all()), total

    # -- export -----------------------------------------------------------------------------

    async def export(self, org_id: uuid.UUID, file_id: str) -> tuple[bytes, str]:
        """The zip's bytes and its file name."""
        fid = _file_id(file_id)
        async with session_scope(self._sf) as session:
            repo = FileRepository(session)
            row = await _settled_file(repo, org_id, fid, "export")
            results = await repo.results_of(fid)
            plugins = await repo.plugin_metadata(fid)
            proofs, _ = await self._proofs(session, org_id, fid)
        manifest = self._manifest(row, results, plugins,
                                  [wire_proof(p.document, p.signature) for p in proofs])
        outcome = await self._hooks.execute_hook(org_id, "export:before", manifest, _WATERFALL,
                                                 file_id=str(fid))
        final = check_export_outcome(manifest, outcome)
        variants: dict[str, str] = {"original": row.sha256}
        if row.processed_sha256 is not None:
            variants["processed"] = row.processed_sha256
        contents: list[tuple[str, bytes]] = []
        for name in final["variants"]:
            data = await self._blobs.get_bytes(variants[name])
            ext = _EXTENSIONS.get(row.content_type, "bin") if name == "original" else (
                _sniff_ext(data))
            contents.append((f"{name}.{ext}", data))
        archive = await asyncio.to_thread(_zip, contents, final)
        return archive, f"proofpix-{fid}.zip"

    def _manifest(
        self, row: File, results: list[FilePluginResult], plugins: dict[str, dict[str, Any]],
        proofs: list[dict[str, Any]],
    ) -> dict[str, Any]:
        variants = ["original"] + (["processed"] if row.processed_sha256 else [])
        return {
            "manifestVersion": 1,
            "file": {
                "id": str(row.id), "filename": row.filename, "contentType": row.content_type,
                "sizeBytes": row.size_bytes, "sha256": row.sha256,
                "processedSha256": row.processed_sha256, "width": row.width,
                "height": row.height, "createdAt": iso(row.created_at),
            },
            "variants": variants,
            "metadata": {"exif": row.exif or {}, "plugins": plugins},
            "pluginResults": [_result_wire(r) for r in results],
            "proofs": proofs,
        }


def _sniff_ext(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"


def _zip(contents: list[tuple[str, bytes]], manifest: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in contents:
            # Photos are compressed already: stored, not deflated again.
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return buf.getvalue()


def manifest_errors(original: dict[str, Any], candidate: Any) -> list[str]:
    """Why ``candidate`` may not replace the host's ``original`` export manifest."""
    if not isinstance(candidate, dict):
        return [f"must be a manifest object, not {type(candidate).__name__}"]
    try:
        size = len(canonical_json(candidate))
    except (TypeError, ValueError):
        return ["is not plain JSON"]
    if size > MAX_EXPORT_MANIFEST_BYTES:
        return [f"is {size} bytes, over the {MAX_EXPORT_MANIFEST_BYTES}-byte limit"]
    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}"
        for e in sorted(_MANIFEST_VALIDATOR.iter_errors(candidate), key=lambda e: list(e.path))
    ][:10]
    if problems:
        return problems
    for key in ("id", "sha256"):
        if candidate["file"][key] != original["file"][key]:
            problems.append(f"file/{key}: may not be changed")
    extra = [v for v in candidate["variants"] if v not in original["variants"]]
    if extra:
        problems.append(f"variants: {', '.join(extra)} is not a variant of this photo")
    originals = {canonical_json(p) for p in original.get("proofs", [])}
    if any(canonical_json(p) not in originals for p in candidate.get("proofs", [])):
        problems.append("proofs: a proof may be dropped, never altered or added")
    return problems


def check_export_outcome(original: dict[str, Any], outcome: HookResult) -> dict[str, Any]:
    """The manifest to export: the waterfall's last valid output, or a 502 naming the plugin."""
    current = original
    for r in outcome.results:
        where = f"plugins.{r.plugin_id}"
        if r.status != "ok":
            raise PluginOutputRefused(
                f"export:before plugin {r.plugin_id} did not finish ({r.status}); the export "
                "is refused rather than sent without its changes",
                errors=(FieldError(where, (r.error or r.status)[:500], r.status),),
            )
        if r.result is None:
            continue  # returned nothing: the manifest flows on unchanged
        problems = manifest_errors(original, r.result)
        if problems:
            raise PluginOutputRefused(
                f"export:before plugin {r.plugin_id} returned an invalid manifest",
                errors=tuple(FieldError(where, p, "manifest") for p in problems),
            )
        current = r.result
    return current
