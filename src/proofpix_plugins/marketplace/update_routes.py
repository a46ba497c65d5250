"""``GET /api/plugins/updates``: the organization's plugins with a newer marketplace version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ConfigDict

from proofpix_plugins.accounts.auth import Principal, require_role, require_tier
from proofpix_plugins.db import session_scope
from proofpix_plugins.kit.pagination import Page, PageParams
from proofpix_plugins.kit.rate_limit import rate_limit_reads
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.kit.schemas import CamelResponse
from proofpix_plugins.marketplace.updates import updates_for
from proofpix_plugins.models.accounts import Tier

router = APIRouter(
    prefix="/api/plugins", tags=["plugins"], route_class=PatternRoute,
    dependencies=[Depends(rate_limit_reads("default"))],
)

_enterprise = require_tier(Tier.enterprise)
_admin_role = require_role("owner", "admin")


async def _enterprise_admin(principal: Annotated[Principal, Depends(_enterprise)]) -> Principal:
    return await _admin_role(principal)


class UpdateOut(CamelResponse):
    """An installed plugin with a newer compatible marketplace version."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pluginId": "acme.counter", "installedVersion": "1.0.0", "latestVersion": "1.1.0",
        "changelog": "Posts the count to Slack.",
        "permissionDiff": {"addedPermissions": ["http"], "removedPermissions": [],
                           "addedHosts": ["hooks.slack.com"], "removedHosts": [],
                           "addedSecretKeys": [], "removedSecretKeys": [],
                           "pending": ["http", "network:hooks.slack.com"]},
        "needsConsent": True}]})

    plugin_id: str
    """The plugin id."""
    installed_version: str
    """The version installed in this organization."""
    latest_version: str
    """The newest published, not yanked version compatible with this platform."""
    changelog: str
    """The new version's release notes (plain text)."""
    permission_diff: dict[str, list[str]]
    """What the new version asks for compared with the installed one: `addedPermissions`,
    `removedPermissions`, `addedHosts`, `removedHosts`, `addedSecretKeys`,
    `removedSecretKeys`, and `pending`: what an upgrade naming nothing would leave waiting
    for consent."""
    needs_consent: bool
    """Whether the upgrade asks for something not granted yet (it installs `unloaded` with
    `pendingConsent` unless `grantPermissions` names it)."""


@router.get("/updates", response_model=Page[UpdateOut])
async def list_updates(
    request: Request,
    principal: Annotated[Principal, Depends(_enterprise_admin)],
    params: Annotated[PageParams, Query()],
) -> Page[UpdateOut]:
    """List available plugin updates

    The organization's installed plugins that have a newer compatible marketplace version,
    each with its permission diff against the installed version. Update with `POST
    /api/plugins/install` `{"source": "marketplace", "pluginId", "version"}`; an upgrade that
    asks for more waits for consent (`grantPermissions`, or the permissions route).

    Who: an `admin` or `owner` of an `enterprise` organization.
    """
    async with session_scope(request.app.state.session_factory) as session:
        found = await updates_for(session, principal.org_id)
    page = found[params.offset:params.offset + params.limit]
    return Page.of([UpdateOut.model_validate(u) for u in page], len(found), params)
