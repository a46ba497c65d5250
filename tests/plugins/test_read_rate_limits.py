"""Every GET route of the plugin and file APIs is in the ``default`` rate-limit class."""

from __future__ import annotations

from pathlib import Path

from proofpix_plugins.config import Settings
from tests.fixtures.app import StartApp, client_for, create_test_user
from tests.plugins.builders import gps_jpeg
from tests.plugins.test_plugin_api import counter_ppx, install


async def test_every_plugin_and_file_read_is_rate_limited_in_the_default_class(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    limited = platform_settings.model_copy(update={"rate_limit_default": "9/minute"})
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
        )
        # The set this test covers: a new GET route is counted in automatically.
        assert len(reads) >= 7, reads
        remaining = []
        for path in reads:
            r = await api.get(path, headers=user.headers)
            assert r.status_code == 200, (path, r.text)
            assert r.headers["ratelimit-limit"] == "9", path
            remaining.append(int(r.headers["ratelimit-remaining"]))
        # One shared budget: each read spent one unit of it.
        assert remaining == list(range(8, 8 - len(reads), -1))
        # Writes keep their own class and do not spend the read budget.
        r = await api.post("/api/plugins/acme.counter/load", headers=user.headers)
        assert r.status_code == 200
        assert r.headers["ratelimit-limit"] != "9"
        over = [await api.get("/api/plugins", headers=user.headers) for _ in range(3)]
        assert [o.status_code for o in over][-1] == 429
        assert int(over[-1].headers["retry-after"]) >= 1
