"""Entry module and hook handlers are found by parsing, never importing."""

from __future__ import annotations

import json

from proofpix_plugins.packages.manifest import parse_manifest
from proofpix_plugins.packages.structure import check_structure, find_entry_file
from tests.packages.builders import HANDLER_SOURCE, manifest


def _m(**overrides: object):
    return parse_manifest(json.dumps(manifest(**overrides)).encode())


def _rules(m, sources, names=None):
    return {(e.field, e.rule) for e in check_structure(
        m, {k: v.encode() for k, v in sources.items()}, names)}


def test_valid_structure_has_no_errors():
    assert _rules(_m(), {"plugin/__init__.py": HANDLER_SOURCE}) == set()


def test_entry_can_be_a_single_module_or_dotted_package():
    assert find_entry_file("main", {"main.py"}) == "main.py"
    assert find_entry_file("a.b", {"a/b/__init__.py", "a/b.py"}) == "a/b/__init__.py"
    assert find_entry_file("plugin", {"other.py"}) is None


def test_missing_entry():
    assert _rules(_m(), {"other/__init__.py": HANDLER_SOURCE}) == {
        ("entry", "PPX-STRUCT-NO-ENTRY")}


def test_handler_must_be_top_level_not_nested_or_a_method():
    src = "class K:\n    def on_upload(self, e, c):\n        pass\n" \
          "def outer():\n    def on_upload(e, c):\n        pass\n"
    assert _rules(_m(), {"plugin/__init__.py": src}) == {
        ("hooks[0].handler", "PPX-STRUCT-NO-HANDLER")}


def test_handler_assigned_not_defined_is_refused():
    assert _rules(_m(), {"plugin/__init__.py": "on_upload = print\n"}) == {
        ("hooks[0].handler", "PPX-STRUCT-NO-HANDLER")}


def test_handler_with_defaults_or_varargs_is_accepted():
    for sig in ("event, ctx, extra=1", "*args", "event, ctx, *, flag=False"):
        src = f"def on_upload({sig}):\n    return {{}}\n"
        assert _rules(_m(), {"plugin/__init__.py": src}) == set(), sig


def test_handler_needing_a_third_argument_is_refused():
    for sig in ("event, ctx, extra", "event, ctx, *, flag"):
        src = f"def on_upload({sig}):\n    return {{}}\n"
        assert _rules(_m(), {"plugin/__init__.py": src}) == {
            ("hooks[0].handler", "PPX-STRUCT-HANDLER-SIGNATURE")}, sig


def test_decorator_must_match_the_manifest():
    src = HANDLER_SOURCE.replace('"file:uploaded"', '"file:process"')
    assert ("plugin/__init__.py:8", "PPX-STRUCT-HOOK-MISMATCH") in _rules(
        _m(), {"plugin/__init__.py": src})


def test_unparsable_entry_is_reported_not_raised():
    assert _rules(_m(), {"plugin/__init__.py": "def (:\n"}) == {
        ("plugin/__init__.py", "PPX-SRC-SYNTAX")}


def test_pth_files_and_stdlib_shadows_are_refused():
    rules = _rules(_m(), {"plugin/__init__.py": HANDLER_SOURCE, "os/__init__.py": ""},
                   names={"plugin/__init__.py", "os/__init__.py", "assets/x.pth"})
    assert rules == {("os", "PPX-STRUCT-SHADOW"), ("assets/x.pth", "PPX-STRUCT-SHADOW")}


def test_entry_named_like_stdlib_is_refused():
    rules = _rules(_m(entry="json"), {"json.py": HANDLER_SOURCE})
    assert ("json", "PPX-STRUCT-SHADOW") in rules


def test_plain_data_directories_named_like_stdlib_are_fine():
    names = {"plugin/__init__.py", "html/index.html", "email/template.txt"}
    assert _rules(_m(), {"plugin/__init__.py": HANDLER_SOURCE}, names=names) == set()
