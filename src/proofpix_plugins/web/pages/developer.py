"""The developer portal, first part: ``/console/developer`` registers a namespace (the service's
format, reserved, taken and confusable rules, their errors shown next to the field) and
manages API keys (create: the secret shown once, never stored; list; revoke). Every write is a
``DeveloperService`` call with the API's body models and rate limits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.db import session_scope
from proofpix_plugins.developers.schemas import (
    DEFAULT_KEY_DAYS,
    CreateKeyIn,
    RegisterDeveloperIn,
)
from proofpix_plugins.developers.service import DeveloperService
from proofpix_plugins.errors import FieldError, NotFound, ProofPixError
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.web.auth import Console, require_user
from proofpix_plugins.web.pages.common import field, form_data, page, redirect, route_kwargs
from proofpix_plugins.web.templating import render

router = APIRouter()
KEYS_SHOWN = 50
_mint = rate_limit("auth")
_default = rate_limit("default")
_FIELDS = {"namespace": "namespace", "displayName": "display_name", "display_name": "display_name",
           "name": "name", "scopes": "scopes", "expiresInDays": "days",
           "expires_in_days": "days"}


def _by_field(errors: Sequence[FieldError], default: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        key = _FIELDS.get(e.field.rsplit(".", 1)[-1], default)
        out.setdefault(key, []).append(e.message)
    return out


def _pydantic(exc: ValidationError, default: str) -> dict[str, list[str]]:
    return _by_field([FieldError(".".join(map(str, e["loc"])), e["msg"], e["type"])
                      for e in exc.errors()[:10]], default)


async def _render(request: Request, console: Console, *, status: int = 200,
                  errors: dict[str, list[str]] | None = None, secret: str | None = None,
                  values: dict[str, str] | None = None) -> Response:
    principal = require_user(console)
    async with session_scope(request.app.state.session_factory) as session:
        svc = DeveloperService(session)
        developer = await svc.profile(principal.user_id)
        keys: list[Any] = []
        total = 0
        if developer is not None:
            keys, total = await svc.list_keys(developer, offset=0, limit=KEYS_SHOWN)
    response = render(request, "developer/portal.html", status_code=status,
                      title="Developer portal", developer=developer, keys=keys, total=total,
                      errors=errors or {}, secret=secret, values=values or {},
                      default_days=DEFAULT_KEY_DAYS)
    if secret is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@page
async def portal(request: Request, console: Console) -> Response:
    await _default(request)
    return await _render(request, console)


@page
async def register(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _mint(request)
    form = await form_data(request)
    values = {"namespace": field(form, "namespace"), "display_name": field(form, "display_name")}
    try:
        body = RegisterDeveloperIn(namespace=values["namespace"],
                                   display_name=values["display_name"])
    except ValidationError as exc:
        return await _render(request, console, status=422, errors=_pydantic(exc, "namespace"),
                             values=values)
    try:
        async with session_scope(request.app.state.session_factory) as session:
            _, _, secret = await DeveloperService(session).register(
                principal.user_id, body.namespace, body.display_name)
    except ProofPixError as exc:
        errors = _by_field(exc.errors, "namespace") or {"namespace": [exc.detail or exc.title]}
        return await _render(request, console, status=exc.status, errors=errors, values=values)
    return await _render(request, console, status=201, secret=secret)


@page
async def create_key(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _mint(request)
    form = await form_data(request)
    days = field(form, "days")
    values = {"name": field(form, "name"), "days": days}
    try:
        body = CreateKeyIn(name=values["name"],
                           scopes=[s for s in form.getlist("scope") if isinstance(s, str)],
                           expires_in_days=int(days) if days.isdigit() and len(days) < 6 else 0)
    except ValidationError as exc:
        return await _render(request, console, status=422, errors=_pydantic(exc, "name"),
                             values=values)
    try:
        async with session_scope(request.app.state.session_factory) as session:
            svc = DeveloperService(session)
            developer = await svc.require_profile(principal.user_id)
            _, secret = await svc.create_key(developer, body.name, body.scopes,
                                             body.expires_in_days)
    except ProofPixError as exc:
        errors = _by_field(exc.errors, "name") or {"name": [exc.detail or exc.title]}
        return await _render(request, console, status=exc.status, errors=errors, values=values)
    return await _render(request, console, status=201, secret=secret)


@page
async def revoke_key(request: Request, console: Console) -> Response:
    principal = require_user(console)
    await _default(request)
    try:
        key_id = uuid.UUID(str(request.path_params.get("key_id", "")))
    except ValueError:
        raise NotFound(detail="no API key of yours has this id") from None
    async with session_scope(request.app.state.session_factory) as session:
        svc = DeveloperService(session)
        await svc.revoke_key(await svc.require_profile(principal.user_id), key_id)
    return redirect(request, console, "/console/developer#keys-heading")


router.add_api_route("/console/developer", portal, methods=["GET"], **route_kwargs())
router.add_api_route("/console/developer/register", register, methods=["POST"],
                     **route_kwargs())
router.add_api_route("/console/developer/keys", create_key, methods=["POST"], **route_kwargs())
router.add_api_route("/console/developer/keys/{key_id}/revoke", revoke_key, methods=["POST"],
                     **route_kwargs())
