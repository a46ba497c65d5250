"""``/api/auth``: register, login, refresh, logout, me (thin: parse, delegate, shape)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from proofpix_plugins.accounts.auth import CurrentUser
from proofpix_plugins.accounts.schemas import (
    LoginIn,
    LogoutIn,
    MeOut,
    OrganizationOut,
    RefreshIn,
    RegisteredOut,
    RegisterIn,
    TokenOut,
    UserOut,
)
from proofpix_plugins.accounts.service import Account, AccountService, RefreshTokenReused, TokenPair
from proofpix_plugins.db import SessionDep
from proofpix_plugins.errors import Unauthorized
from proofpix_plugins.kit.audit import ACTOR_KEY, ATTEMPT_KEY
from proofpix_plugins.kit.problem import error_response
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit

# Every error is problem+json; each route's statuses are derived from its guards, parameters
# and body (kit/openapi.py), plus the 401/409 its service answers, listed on the route.
router = APIRouter(prefix="/api/auth", tags=["auth"])



def _credential_attempt(request: Request) -> None:
    # Past the rate limit, a failed attempt is a security event: audit it although anonymous.
    setattr(request.state, ATTEMPT_KEY, True)


# Credential endpoints share the strict "auth" budget; reading one's own account does not.
_AUTH_LIMIT = [Depends(rate_limit("auth")), Depends(_credential_attempt)]
_DEFAULT_LIMIT = [Depends(rate_limit("default"))]


def service(request: Request, session: SessionDep) -> AccountService:
    state = request.app.state
    return AccountService(
        session, state.passwords, state.access_tokens, state.settings.refresh_token_ttl_seconds
    )


Service = Annotated[AccountService, Depends(service)]


def _user_out(account: Account) -> UserOut:
    return UserOut.model_validate(account.user)


def _org_out(account: Account) -> OrganizationOut:
    org = account.organization
    return OrganizationOut(
        id=org.id, name=org.name, slug=org.slug, tier=org.tier, role=account.membership.role
    )


def _token_out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


def _no_store(response: Response) -> None:
    # RFC 6749 §5.1: token responses must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


@router.post(
    "/register",
    status_code=201,
    dependencies=_AUTH_LIMIT,
    response_model=RegisteredOut,
    responses=problem_responses(409),
)
async def register(body: RegisterIn, request: Request, svc: Service) -> RegisteredOut:
    """Register an account

    Creates a user and a new organization (on the free plan) with the user as its owner. Log in
    afterwards for tokens.

    Who: anyone (rate limited by client address). 409 when the email is already registered.
    """
    account = await svc.register(email=body.email, password=body.password, name=body.name)
    setattr(request.state, ACTOR_KEY, (account.user.id, account.organization.id))
    return RegisteredOut(user=_user_out(account), organization=_org_out(account))


@router.post(
    "/login",
    response_model=TokenOut,
    dependencies=_AUTH_LIMIT,
    responses=problem_responses(401),
)
async def login(body: LoginIn, request: Request, response: Response, svc: Service) -> TokenOut:
    """Log in

    Exchanges email and password for an access token (15 minutes) and a refresh token, in the
    caller's first organization or the one `organizationId` names.

    Who: anyone. 401 for wrong credentials (the same answer whether or not the email exists).
    """
    account, pair = await svc.login(
        email=body.email, password=body.password, organization_id=body.organization_id
    )
    setattr(request.state, ACTOR_KEY, (account.user.id, account.organization.id))
    _no_store(response)
    return _token_out(pair)


@router.post(
    "/refresh",
    response_model=TokenOut,
    dependencies=_AUTH_LIMIT,
    responses=problem_responses(401),
)
async def refresh(
    body: RefreshIn, request: Request, response: Response, svc: Service
) -> TokenOut | Response:
    """Refresh the tokens

    Exchanges a refresh token for a new pair; the old refresh token stops working (rotation).

    Who: anyone holding a refresh token. 401 when it is unknown, expired or revoked; presenting
    one that was already rotated revokes its whole family (reuse detection).
    """
    try:
        account, pair = await svc.refresh(body.refresh_token)
    except RefreshTokenReused as exc:
        # Answer 401 without raising, so the request transaction commits the family's
        # revocation instead of rolling it back.
        return error_response(request, exc)
    setattr(request.state, ACTOR_KEY, (account.user.id, account.organization.id))
    _no_store(response)
    return _token_out(pair)


@router.post(
    "/logout", status_code=204, dependencies=_AUTH_LIMIT
)
async def logout(principal: CurrentUser, svc: Service, body: LogoutIn | None = None) -> Response:
    """Log out

    Revokes the given refresh token, or with no body every session of the user. Access tokens
    run out on their own (15 minutes).

    Who: a logged-in user.
    """
    await svc.logout(principal.user_id, body.refresh_token if body else None)
    return Response(status_code=204)


@router.get(
    "/me",
    response_model=MeOut,
    dependencies=_DEFAULT_LIMIT,
)
async def me(principal: CurrentUser, svc: Service) -> MeOut:
    """Read the current account

    The caller's user and the organization the token is for, with the caller's role and the
    organization's plan.

    Who: a logged-in user.
    """
    account = await svc.account(principal.user_id, principal.org_id)
    if account is None:
        raise Unauthorized(detail="the account or its membership no longer exists")
    return MeOut(user=_user_out(account), organization=_org_out(account))


