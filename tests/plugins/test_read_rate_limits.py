"""Every GET route of the plugin and file APIs is in the ``default`` rate-limit class."""

from __future__ import annotations

from pathlib import Path

from proofpix_plugins.config import Settings
from tests.fixtures.app import StartApp, client_for, create_test_user
from tests.plugins.builders import gps_jpeg
from tests.plugins.test_plugin_api import counter_ppx, install

# A GET that runs the organization's plugins (export:before) spends the hook budget, as a hook
# call does: it is checked in test_export_spends_the_hook_budget below.
RUNS_PLUGINS = {"/api/files/{file_id}/export"}
# Above the number of reads covered (the marketplace's public reads count too).
LIMIT = 40


async def test_every_plugin_and_file_read_is_rate_limited_in_the_default_class(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    limited = platform_settings.model_copy(update={"rate_limit_default": f"{LIMIT}/minute"})
    async with start_app(limited, platform=True) as app, client_for(app) as api:
        user = await create_test_user(app, tier="enterprise", role="admin")
        assert (await install(api, user, counter_ppx(ppx_dir))).status_code == 201
        jpeg = gps_jpeg(ppx_dir / "photo.jpg").read_bytes()
        r = await api.post("/api/files", files={"file": ("p.jpg", jpeg, "image/jpeg")},
                           headers=user.headers)
        assert r.status_code == 201, r.text
        params = {"plugin_id": "acme.counter", "file_id": r.json()["id"]}
        reads = sorted(
            path.format(**params) for path, ops in app.openapi()["paths"].items()
            if "get" in ops and path.startswith(("/api/plugins", "/api/files"))
            and path not in RUNS_PLUGINS
        )
        # The set this test covers: a new GET route is counted in automatically.
        assert len(reads) >= 7, reads
        remaining = []
        for path in reads:
            r = await api.get(path, headers=user.headers)
            # acme.counter was uploaded, not installed from the marketplace: its marketplace
            # view is a 404, which spends the budget all the same.
            expected = 404 if path.startswith("/api/plugins/marketplace/acme.counter") else 200
            assert r.status_code == expected, (path, r.text)
            assert r.headers["ratelimit-limit"] == str(LIMIT), path
            remaining.append(int(r.headers["ratelimit-remaining"]))
        # One shared budget: each read spent one unit of it.
        assert remaining == list(range(LIMIT - 1, LIMIT - 1 - len(reads), -1))
        # Writes keep their own class and do not spend the read budget.
        r = await api.post("/api/plugins/acme.counter/load", headers=user.headers)
        assert r.status_code == 200
        assert r.headers["ratelimit-limit"] != str(LIMIT)
        over = [await api.get("/api/plugins", headers=user.headers)
                for _ in range(LIMIT - len(reads) + 1)]
        assert [o.status_code for o in over][-1] == 429
        assert int(over[-1].headers["retry-after"]) >= 1


async def test_export_spends_the_hook_budget(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    limited = platform_settings.model_copy(update={"rate_limit_hooks": "7/minute"})
    async with start_app(limited, platform=True) as app, client_for(app) as api:
        user = await create_test_user(app, tier="enterprise", role="admin")
        jpeg = gps_jpeg(ppx_dir / "photo.jpg").read_bytes()
        r = await api.post("/api/files", files={"file": ("p.jpg", jpeg, "image/jpeg")},
                           headers=user.headers)
        assert r.status_code == 201, r.text
        r = await api.get(f"/api/files/{r.json()['id']}/export", headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["ratelimit-limit"] == "7"
