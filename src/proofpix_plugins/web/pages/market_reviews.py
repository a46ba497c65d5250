"""Reviews on a listing page: the public list (newest first, sanitized text) and the form for
members of an organization that installed the plugin, written through ``reviews.submit`` with
the API's own body model (``ReviewIn``) and rate limit, so the rules are the API's."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.marketplace import reviews
from proofpix_plugins.marketplace.review_routes import ReviewIn
from proofpix_plugins.web.auth import Console, require_user
from proofpix_plugins.web.pages.common import field, form_data, page, redirect, route_kwargs
from proofpix_plugins.web.pages.marketplace import plugin_id_of

router = APIRouter()
_plugin_ops = rate_limit("plugin_ops")


@page
async def post_review(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _plugin_ops(request)
    plugin_id = plugin_id_of(request)
    form = await form_data(request)
    raw = field(form, "rating")
    try:
        body = ReviewIn(rating=int(raw) if raw.isdigit() and len(raw) < 3 else 0,
                        text=field(form, "text"))
    except ValidationError as exc:
        raise ValidationFailed("the review is invalid", errors=tuple(
            FieldError(".".join(map(str, e["loc"])) or "review", e["msg"], e["type"])
            for e in exc.errors()[:10])) from None
    async with session_scope(request.app.state.session_factory) as session:
        await reviews.submit(session, plugin_id, principal.user_id, principal.org_id,
                             body.rating, body.text)
    return redirect(request, console, f"/marketplace/{plugin_id}#reviews-heading")


router.add_api_route("/marketplace/{plugin_id}/reviews", post_review, methods=["POST"],
                     **route_kwargs())
