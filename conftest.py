"""Root conftest: shared fixtures live in tests/fixtures/ as pytest plugins, one module per area."""

# pytester: tests/db/test_fixtures.py runs small suites of its own against these fixtures.
pytest_plugins = ["tests.fixtures.db", "tests.fixtures.app", "tests.fixtures.s3",
                  "tests.fixtures.servers", "pytester"]
