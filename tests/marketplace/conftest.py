"""The real plugin platform for marketplace tests (the fixtures of tests/plugins)."""

from tests.plugins.conftest import admin, api, data_dir, platform, platform_settings, ppx_dir

__all__ = ["admin", "api", "data_dir", "platform", "platform_settings", "ppx_dir"]
