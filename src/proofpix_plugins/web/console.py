"""Mounts the web console on the app: its pages, the live-event socket, the static files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI
from starlette.requests import Request

from proofpix_plugins.kit.rate_limit import rate_limit_reads
from proofpix_plugins.web.auth import console_identity
from proofpix_plugins.web.events_ws import router as events_router
from proofpix_plugins.web.pages.account import router as account_router
from proofpix_plugins.web.pages.admin import router as admin_router
from proofpix_plugins.web.pages.admin_analytics import router as admin_analytics_router
from proofpix_plugins.web.pages.admin_featured import router as admin_featured_router
from proofpix_plugins.web.pages.admin_takedown import router as admin_takedown_router
from proofpix_plugins.web.pages.developer import router as developer_router
from proofpix_plugins.web.pages.install import router as install_router
from proofpix_plugins.web.pages.market_install import router as market_install_router
from proofpix_plugins.web.pages.market_reviews import router as market_reviews_router
from proofpix_plugins.web.pages.marketplace import router as marketplace_router
from proofpix_plugins.web.pages.photos import router as photos_router
from proofpix_plugins.web.pages.plugins import router as plugins_router
from proofpix_plugins.web.pages.submissions import router as submissions_router
from proofpix_plugins.web.pages.updates import router as updates_router

Identity = Callable[[Request], Awaitable[str | None]]


def install_console(app: FastAPI) -> None:
    for router in (marketplace_router, account_router, plugins_router, install_router,
                   photos_router, market_install_router, market_reviews_router,
                   updates_router, developer_router, submissions_router,
                   admin_router, admin_featured_router, admin_takedown_router,
                   admin_analytics_router, events_router):
        # Pages spend the default read budget as the API's GETs do (their forms declare their
        # own class); the live-event socket is left alone by rate_limit_reads.
        app.include_router(router, dependencies=[Depends(rate_limit_reads())])
    # Rate limits count a console user as the API counts a bearer: by user id, not by address.
    api_identity: Identity = app.state.rate_limit_identity

    async def identity(request: Request) -> str | None:
        return await api_identity(request) or await console_identity(request)

    app.state.rate_limit_identity = identity
