"""Signing in and out of the console: the API's login (same service, same password checks, same
``auth`` rate limit and audit), answered with a fresh cookie session instead of a token body."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.accounts.schemas import LoginIn
from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Unauthorized
from proofpix_plugins.kit.audit import ACTOR_KEY, ATTEMPT_KEY
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.web.auth import Console, account_service
from proofpix_plugins.web.pages.common import (
    field,
    form_data,
    local_path,
    page,
    redirect,
    route_kwargs,
)
from proofpix_plugins.web.session import clear_session
from proofpix_plugins.web.templating import render

router = APIRouter()
_auth_limit = rate_limit("auth")


@page
async def login_form(request: Request, console: Console) -> Response:
    if console.principal is not None:
        return redirect(request, console, local_path(request.query_params.get("next")))
    return render(request, "login.html", title="Sign in", email="", error=None,
                  next=local_path(request.query_params.get("next")))


@page
async def login(request: Request, console: Console) -> Response:
    await _auth_limit(request)
    setattr(request.state, ATTEMPT_KEY, True)  # a failed attempt is audited, as for the API
    form = await form_data(request)
    email, target = field(form, "email").strip(), local_path(field(form, "next"))
    try:
        credentials = LoginIn(email=email, password=field(form, "password"))
    except ValidationError:
        return render(request, "login.html", status_code=422, title="Sign in", email=email,
                      next=target, error="Enter your email and password.")
    async with session_scope(request.app.state.session_factory) as db:
        try:
            account, pair = await account_service(request, db).login(
                email=credentials.email, password=credentials.password, organization_id=None)
        except Unauthorized as exc:
            failed: str | None = exc.detail
        else:
            failed = None
    if failed is not None:
        return render(request, "login.html", status_code=401, title="Sign in", email=email,
                      next=target, error=failed)
    setattr(request.state, ACTOR_KEY, (account.user.id, account.organization.id))
    secret = request.app.state.settings.jwt_secret.get_secret_value()
    # A new session id with the new tokens: nothing from before the login carries over.
    console.replace_session(console.session.signed_in_as(pair.access_token, pair.refresh_token),
                            secret)
    return redirect(request, console, target)


@page
async def logout(request: Request, console: Console) -> Response:
    session = console.session
    if console.principal is not None and session.refresh_token:
        async with session_scope(request.app.state.session_factory) as db:
            # Revokes this session's refresh token family, as POST /api/auth/logout does.
            await account_service(request, db).logout(console.principal.user_id,
                                                       session.refresh_token)
    # The cookie goes; the sign-in page starts a new anonymous session (a new id) if visited.
    console.dirty = False
    response = redirect(request, console, "/login")
    clear_session(response, request, request.app.state.settings)
    return response


router.add_api_route("/login", login_form, methods=["GET"], **route_kwargs())
router.add_api_route("/login", login, methods=["POST"], **route_kwargs())
router.add_api_route("/logout", logout, methods=["POST"], **route_kwargs())
