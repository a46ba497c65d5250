"""The SDK documents itself: every public class, method and property of ``proofpix_sdk`` and
of each ``ctx`` capability namespace has a docstring and full annotations, so ``help()`` and
an IDE show what each call does, its permission and its limits."""

from __future__ import annotations

import dataclasses
import inspect
import pydoc
import typing
from collections.abc import Iterator
from typing import Any

import PIL.Image
import pytest

import proofpix_sdk
from proofpix_sdk import context

NAMESPACES = {
    "files": context.Files, "images": context.Images, "metadata": context.Metadata,
    "storage": context.Storage, "http": context.Http, "crypto": context.Crypto,
    "events": context.Events, "secrets": context.Secrets, "log": context.Log,
}
PERMISSION_OF = {"files": "files", "images": "images", "metadata": "metadata",
                 "storage": "storage", "http": "http", "crypto": "crypto", "events": "events",
                 "secrets": "secrets"}


def _public_classes() -> list[type]:
    exported = [getattr(proofpix_sdk, n) for n in proofpix_sdk.__all__]
    return [c for c in exported if inspect.isclass(c)] + list(NAMESPACES.values())


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    for name, value in vars(cls).items():
        if name.startswith("_") and name not in ("__init__", "__post_init__"):
            continue
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, value


CASES = [(cls, name, member) for cls in _public_classes() for name, member in _members(cls)]


@pytest.mark.parametrize("cls", _public_classes(), ids=lambda c: c.__name__)
def test_every_public_class_has_a_docstring(cls: type) -> None:
    assert (cls.__doc__ or "").strip(), cls


@pytest.mark.parametrize(("cls", "name", "member"), CASES,
                         ids=[f"{c.__name__}.{n}" for c, n, _ in CASES])
def test_every_public_callable_is_documented_and_annotated(cls: type, name: str,
                                                           member: Any) -> None:
    fn = member.fget if isinstance(member, property) else member
    assert fn is not None
    if name == "__init__" and dataclasses.is_dataclass(cls):
        return  # generated from the fields, which the class docstring describes
    assert (fn.__doc__ or "").strip(), f"{cls.__name__}.{name} has no docstring"
    # Resolved in the function's own module; PIL only exists for type checkers there.
    hints = typing.get_type_hints(fn, localns={"PILImage": PIL.Image})
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    missing = [p.name for p in params if p.name not in hints]
    assert not missing, f"{cls.__name__}.{name}: unannotated {missing}"
    assert "return" in hints, f"{cls.__name__}.{name}: no return annotation"


@pytest.mark.parametrize("namespace", sorted(PERMISSION_OF))
def test_each_capability_names_its_permission(namespace: str) -> None:
    cls = NAMESPACES[namespace]
    for name, member in _members(cls):
        if name.startswith("_") or isinstance(member, property):
            continue
        doc = member.__doc__ or ""
        assert PERMISSION_OF[namespace] in doc or "same permission" in doc, f"{namespace}.{name}"


def test_help_on_hook_context_lists_every_namespace() -> None:
    text = pydoc.render_doc(proofpix_sdk.HookContext,
                            renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    for namespace in NAMESPACES:
        assert f"{namespace}:" in text, namespace
