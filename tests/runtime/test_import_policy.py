"""Import policy decisions (the worker-side defence in depth): per module name and permission."""

from __future__ import annotations

import pytest

from proofpix_plugins.runtime.sandbox.import_policy import ImportPolicy


@pytest.mark.parametrize(
    "module",
    ["ctypes", "ctypes.util", "subprocess", "socket", "_socket", "multiprocessing.pool",
     "asyncio", "urllib.request", "http.client", "proofpix_plugins.runtime.host.pool", "gc",
     "msgspec"],
)
def test_never_allowed_modules_are_refused_whatever_the_grants(module: str) -> None:
    decision = ImportPolicy({"files", "images", "crypto", "http"}, "plugin").decide(module)
    assert not decision.allowed
    assert "never allowed" in decision.reason


@pytest.mark.parametrize(("module", "permission"), [("PIL.Image", "images"),
                                                    ("cryptography.fernet", "crypto")])
def test_gated_packages_need_their_permission(module: str, permission: str) -> None:
    without = ImportPolicy(set(), "plugin").decide(module)
    assert (without.allowed, without.permission) == (False, permission)
    assert ImportPolicy({permission}, "plugin").decide(module).allowed


@pytest.mark.parametrize("module", ["json", "urllib.parse", "xml.etree.ElementTree", "re",
                                    "proofpix_sdk", "_io", "plugin.helpers"])
def test_allowed_stdlib_the_sdk_builtins_and_the_own_package_import(module: str) -> None:
    assert ImportPolicy(set(), "plugin").decide(module).allowed


@pytest.mark.parametrize("module", ["requests", "numpy", "email.mime", "sqlite3", "otherplugin"])
def test_anything_unlisted_is_refused(module: str) -> None:
    decision = ImportPolicy(set(), "plugin").decide(module)
    assert not decision.allowed


def test_only_refused_modules_are_forgotten_from_the_cache() -> None:
    policy = ImportPolicy(set(), "plugin")
    assert policy.must_forget("ctypes")
    assert policy.must_forget("PIL.Image")
    assert not policy.must_forget("_io")  # the import machinery needs it
    # Refused since zips hidden in a package could carry unscanned code (the red team's
    # zip_on_path shows the import machinery works without it).
    assert policy.must_forget("zipimport")
    assert not ImportPolicy({"images"}, "plugin").must_forget("PIL.Image")
