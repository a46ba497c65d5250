"""Root conftest: shared fixtures live in tests/fixtures/ as pytest plugins, one module per area."""

pytest_plugins = ["tests.fixtures.db", "tests.fixtures.app"]
