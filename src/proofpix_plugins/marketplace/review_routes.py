"""Marketplace reviews: write one (installers only), read them (public), the developer's reply."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import ConfigDict, Field, field_validator

from proofpix_plugins.accounts.auth import ConfirmedUser
from proofpix_plugins.db import SessionDep
from proofpix_plugins.developers.auth import DeveloperPrincipal, require_api_key
from proofpix_plugins.kit.pagination import Page, PageParams
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit, rate_limit_reads
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.marketplace import reviews
from proofpix_plugins.models.marketplace import ApiKeyScope
from proofpix_plugins.plugins.schemas import PluginId

router = APIRouter(
    prefix="/api/plugins/marketplace", tags=["marketplace"], route_class=PatternRoute,
    dependencies=[Depends(rate_limit_reads("default"))],
)

ReviewId = Annotated[str, Path(
    pattern="^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
    description="The review's id (a UUID), as the review list gives it.",
    examples=["3f1c2b8e-9a47-4d2e-8c1b-5e6f7a8b9c0d"],
)]
_T0 = "2026-12-01T09:30:00Z"
_REVIEW_EXAMPLE: dict[str, Any] = {
    "id": "3f1c2b8e-9a47-4d2e-8c1b-5e6f7a8b9c0d", "rating": 5,
    "text": "Strips GPS reliably.", "author": reviews.REVIEWER_LABEL, "createdAt": _T0,
    "updatedAt": _T0, "reply": "Thanks!", "repliedAt": _T0,
}


def _plain_text(value: str) -> str:
    # Stored as typed (the console escapes on render) but without control characters: a NUL
    # cannot be stored in PostgreSQL text, and bidi controls disguise what a text says.
    bad = [c for c in value if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0
           or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069]
    if bad:
        raise ValueError("must not contain control characters")
    return value


class ReviewIn(CamelModel):
    """A rating and an optional text."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"rating": 5, "text": "Strips GPS reliably."}]})

    rating: int = Field(ge=1, le=5, strict=True)
    """1 to 5 stars."""
    text: str = Field(default="", max_length=5000)
    """Plain text, at most 5,000 characters, no control characters."""

    _text = field_validator("text")(_plain_text)


class ReplyIn(CamelModel):
    """The developer's answer to a review."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"text": "Thanks! Fixed in 1.0.1."}]})

    text: str = Field(min_length=1, max_length=5000)
    """Plain text, 1 to 5,000 characters, no control characters."""

    _text = field_validator("text")(_plain_text)


class ReviewOut(CamelResponse):
    """A review as everyone sees it: never the reviewer's email, name or organization."""

    model_config = ConfigDict(json_schema_extra={"examples": [_REVIEW_EXAMPLE]})

    id: uuid.UUID
    """The review's id."""
    rating: int
    """1 to 5 stars."""
    text: str
    """The review, plain text (escape it when rendering)."""
    author: str
    """Always `a verified installer`: reviews come only from installing organizations."""
    created_at: datetime
    """When it was first written."""
    updated_at: datetime
    """When it was last edited."""
    reply: str | None
    """The developer's reply, plain text."""
    replied_at: datetime | None
    """When the developer replied."""


@router.post("/{plugin_id}/reviews", response_model=ReviewOut, status_code=201,
             dependencies=[Depends(rate_limit("plugin_ops"))],
             responses={200: {"model": ReviewOut, "description": "The review was edited."},
                        **problem_responses(403, 404, 409)})
async def post_review(plugin_id: PluginId, body: ReviewIn, principal: ConfirmedUser,
                      session: SessionDep, response: Response) -> ReviewOut:
    """Review a marketplace plugin

    Rates the plugin 1 to 5 stars with an optional text. One review per user and plugin: a
    second POST edits it (200 instead of 201). The listing's average and count are updated at
    once. Reviews are public; the reviewer is shown only as "a verified installer".

    Who: a member (any role) of an organization that has the plugin installed; 403 otherwise.
    409 while the listing is suspended. Rate limited with the plugin-operations class.
    """
    view, created = await reviews.submit(session, plugin_id, principal.user_id,
                                         principal.org_id, body.rating, body.text)
    if not created:
        response.status_code = 200
    return ReviewOut.model_validate(view)


@router.get("/{plugin_id}/reviews", response_model=Page[ReviewOut],
            responses=problem_responses(404))
async def list_reviews(plugin_id: PluginId, session: SessionDep,
                       params: Annotated[PageParams, Query()]) -> Page[ReviewOut]:
    """List a marketplace plugin's reviews

    One page of reviews, newest first, with the developer's replies. No reviewer is named.

    Who: anyone; no token.
    """
    items, total = await reviews.page(session, plugin_id, params.offset, params.limit)
    return Page.of([ReviewOut.model_validate(v) for v in items], total, params)


@router.post("/{plugin_id}/reviews/{review_id}/reply", response_model=ReviewOut,
             responses=problem_responses(404, 409))
async def reply_to_review(
    plugin_id: PluginId, review_id: ReviewId, body: ReplyIn, session: SessionDep,
    developer: Annotated[DeveloperPrincipal, Depends(require_api_key(ApiKeyScope.publish))],
) -> ReviewOut:
    """Reply to a review of your plugin

    Answers one review, once (409 for a second reply).

    Who: the listing's developer, with an `X-API-Key` carrying the `publish` scope (403 for
    another developer's key).
    """
    view = await reviews.reply(session, plugin_id, uuid.UUID(review_id),
                               developer.developer_id, body.text)
    return ReviewOut.model_validate(view)
