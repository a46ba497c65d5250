"""ORM models, one module per table group; importing this package registers every table.

``Base.metadata`` is what Alembic autogenerates from, so every model module is imported here.
"""

from __future__ import annotations

from proofpix_plugins.models.accounts import (
    Membership,
    Organization,
    RefreshToken,
    Role,
    Tier,
    User,
)
from proofpix_plugins.models.audit import AuditLog
from proofpix_plugins.models.base import NAMING_CONVENTION, Base, UTCDateTime, utcnow
from proofpix_plugins.models.files import (
    Blob,
    File,
    FilePluginMetadata,
    FilePluginResult,
    FileStatus,
)
from proofpix_plugins.models.jobs import Job, JobStatus
from proofpix_plugins.models.marketplace import (
    ApiKey,
    ApiKeyScope,
    Developer,
    DeveloperSigningKey,
    FeaturedEntry,
    ListingStatus,
    LogAction,
    MarketplaceDownload,
    MarketplaceListing,
    MarketplaceReview,
    MarketplaceVersion,
    PublicationLogEntry,
    PublicationLogHead,
    SearchTermCount,
    Submission,
    SubmissionStatus,
    VersionStatus,
)
from proofpix_plugins.models.marketplace_search import is_search_object
from proofpix_plugins.models.plugin_state import PluginStateChange, PluginStateClock
from proofpix_plugins.models.plugins import (
    PermissionKind,
    Plugin,
    PluginConfiguration,
    PluginDependency,
    PluginEvent,
    PluginHook,
    PluginMarketplaceCache,
    PluginMetric,
    PluginPermission,
    PluginStatus,
    PluginStorage,
)
from proofpix_plugins.models.proofs import FileProof

__all__ = [
    "NAMING_CONVENTION",
    "ApiKey",
    "ApiKeyScope",
    "AuditLog",
    "Base",
    "Blob",
    "Developer",
    "DeveloperSigningKey",
    "FeaturedEntry",
    "File",
    "FilePluginMetadata",
    "FilePluginResult",
    "FileProof",
    "FileStatus",
    "Job",
    "JobStatus",
    "ListingStatus",
    "LogAction",
    "MarketplaceDownload",
    "MarketplaceListing",
    "MarketplaceReview",
    "MarketplaceVersion",
    "Membership",
    "Organization",
    "PermissionKind",
    "Plugin",
    "PluginConfiguration",
    "PluginDependency",
    "PluginEvent",
    "PluginHook",
    "PluginMarketplaceCache",
    "PluginMetric",
    "PluginPermission",
    "PluginStateChange",
    "PluginStateClock",
    "PluginStatus",
    "PluginStorage",
    "PublicationLogEntry",
    "PublicationLogHead",
    "RefreshToken",
    "Role",
    "SearchTermCount",
    "Submission",
    "SubmissionStatus",
    "Tier",
    "UTCDateTime",
    "User",
    "VersionStatus",
    "is_search_object",
    "utcnow",
]
