"""Platform-admin takedowns (issue #13): yank / unyank a version, suspend / unsuspend a listing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import ConfigDict, Field

from proofpix_plugins.accounts.auth import Principal, require_platform_admin
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.marketplace import takedown
from proofpix_plugins.models.marketplace import ListingStatus
from proofpix_plugins.plugins.schemas import PluginId

router = APIRouter(
    prefix="/api/admin/marketplace", tags=["admin"], route_class=PatternRoute,
    responses=problem_responses(404, 409),
)

PlatformAdmin = Annotated[Principal, Depends(require_platform_admin)]
Limited = [Depends(rate_limit("plugin_ops"))]
#: A version in a path: semantic-version characters only.
VersionParam = Annotated[str, Path(
    pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$",
    description="The version, as published (`1.2.0`, `2.0.0-rc.1`).", examples=["1.0.0"],
)]


class ReasonIn(CamelModel):
    """Why: shown to every organization affected and written to the public log."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "sends photos to an undeclared host (CVE-2026-0001)"}]})

    reason: str = Field(min_length=1, max_length=2000)
    """The reason, plain text (1-2,000 characters)."""


class OptionalReasonIn(CamelModel):
    """An optional note for lifting a takedown."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "fixed in 1.0.1"}]})

    reason: str | None = Field(default=None, min_length=1, max_length=2000)
    """Why it is lifted (written to the public log)."""


class VersionStateOut(CamelResponse):
    """A version after a yank or unyank."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pluginId": "acme.counter", "version": "1.0.0", "yanked": True,
        "yankedReason": "corrupts EXIF", "latestVersion": "1.0.1"}]})

    plugin_id: str
    """The plugin id."""
    version: str
    """The version."""
    yanked: bool
    """Whether it is yanked now."""
    yanked_reason: str | None
    """Why it was yanked."""
    latest_version: str | None
    """The listing's newest visible version after the change."""


class ListingStateOut(CamelResponse):
    """A listing after a suspension or its lifting."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pluginId": "acme.counter", "status": "suspended", "statusReason": "malware",
        "installations": 12}]})

    plugin_id: str
    """The plugin id."""
    status: ListingStatus
    """`active` or `suspended`."""
    status_reason: str | None
    """Why it is suspended."""
    installations: int
    """Installations this change touched: disabled by a suspension, or told they may load
    again when it is lifted."""


async def _yank(plugin_id: str, version: str, reason: str | None, request: Request,
                yanked: bool) -> VersionStateOut:
    state = await takedown.set_yanked(request.app.state.session_factory, plugin_id, version,
                                        reason, yanked=yanked)
    return VersionStateOut.model_validate(state)


@router.post("/{plugin_id}/versions/{version}/yank", response_model=VersionStateOut,
             dependencies=Limited)
async def yank_version(plugin_id: PluginId, version: VersionParam, body: ReasonIn,
                       request: Request, _: PlatformAdmin) -> VersionStateOut:
    """Yank a marketplace version

    Hides the version from search and from installs that name no version; an install naming
    it exactly still works, and existing installations are untouched. Appends a `yank` entry
    to the publication log.

    Who: a platform administrator. 409 when it is already yanked.
    """
    return await _yank(plugin_id, version, body.reason, request, True)


@router.post("/{plugin_id}/versions/{version}/unyank", response_model=VersionStateOut,
             dependencies=Limited)
async def unyank_version(plugin_id: PluginId, version: VersionParam, body: OptionalReasonIn,
                         request: Request, _: PlatformAdmin) -> VersionStateOut:
    """Lift a version's yank

    Makes the version visible and installable by default again; appends an `unyank` entry to
    the publication log.

    Who: a platform administrator. 409 when it is not yanked.
    """
    return await _yank(plugin_id, version, body.reason, request, False)


async def _suspend(plugin_id: str, reason: str | None, request: Request,
                   suspended: bool) -> ListingStateOut:
    state = await takedown.set_suspended(request.app.state.session_factory,
                                           request.app.state.event_hub, plugin_id, reason,
                                           suspended=suspended)
    return ListingStateOut.model_validate(state)


@router.post("/{plugin_id}/suspend", response_model=ListingStateOut, dependencies=Limited)
async def suspend_listing(plugin_id: PluginId, body: ReasonIn, request: Request,
                          _: PlatformAdmin) -> ListingStateOut:
    """Suspend a plugin (the kill switch)

    The listing becomes uninstallable and every installation of the plugin, in every
    organization, is disabled at once (unloaded in every API process within about a second),
    with the reason in its `statusReason` and a `disabled` event. Loading it is refused until
    the suspension is lifted. Appends a `suspend` entry to the publication log.

    Who: a platform administrator. 409 when it is already suspended.
    """
    return await _suspend(plugin_id, body.reason, request, True)


@router.post("/{plugin_id}/unsuspend", response_model=ListingStateOut, dependencies=Limited)
async def unsuspend_listing(plugin_id: PluginId, body: OptionalReasonIn, request: Request,
                            _: PlatformAdmin) -> ListingStateOut:
    """Lift a plugin's suspension

    The listing is installable again; disabled installations stay disabled (their
    `statusReason` says they may be loaded) until each organization's admin loads them.
    Appends an `unsuspend` entry to the publication log.

    Who: a platform administrator. 409 when it is not suspended.
    """
    return await _suspend(plugin_id, body.reason, request, False)
