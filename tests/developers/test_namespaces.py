"""Namespace rules without a database: skeletons, reserved names, edit distance."""

from __future__ import annotations

import pytest

from proofpix_plugins.developers import namespaces
from proofpix_plugins.developers.skeleton import confusables, skeleton


@pytest.mark.parametrize(("a", "b"), [
    ("proofpix", "Proof-Pix"),        # case and separators
    ("proofpix", "p_r.o-o-f-p-i-x"),
    ("proofpix", "pr0ofpix"),         # digit zero for o
    ("proofpix", "pr00fpix"),
    ("paypal", "paypa1"),             # digit one for l
    ("market", "rnarket"),            # rn for m
    ("proofpix", "\u0440r\u043e\u043efpix"),  # Cyrillic er and o
    ("proofpix", "proofp\u0131x"),    # dotless i
    ("acme", "\u0430cme"),            # Cyrillic a
    ("acme", "ACME"),
])
def test_look_alikes_share_a_skeleton(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b)


@pytest.mark.parametrize(("a", "b"), [("acme", "acne"), ("proofpix", "proofpics"),
                                      ("photo", "photos")])
def test_different_names_keep_different_skeletons(a: str, b: str) -> None:
    assert skeleton(a) != skeleton(b)


def test_the_table_is_unicodes_confusables() -> None:
    table = confusables()
    assert len(table) > 6000
    assert table["m"] == "rn"
    assert table["0"] == "O"
    assert table["\u043e"] == "o"


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("acme", "acme", 0), ("acme", "acne", 1), ("acme", "amce", 1), ("acme", "acm", 1),
    ("acme", "xacme", 1), ("acme", "bcne", 2), ("photolab", "fotolab", 2),
])
def test_osa_distance(a: str, b: str, distance: int) -> None:
    assert namespaces.osa_distance(a, b, 3) == distance
    assert namespaces.osa_distance(b, a, 3) == distance


def test_distance_is_capped_above_the_bound() -> None:
    assert namespaces.osa_distance("abcdefgh", "zyxwvuts", 2) == 3


def test_similar_verified_uses_the_length_dependent_bound() -> None:
    short = [("acme", skeleton("acme"))]
    assert namespaces.similar_verified(skeleton("acne"), short) == "acme"
    assert namespaces.similar_verified(skeleton("bcne"), short) is None   # 2 edits, short name
    long = [("photolab", skeleton("photolab"))]
    assert namespaces.similar_verified(skeleton("fotolab"), long) == "photolab"  # 2 edits


@pytest.mark.parametrize("name", ["proofpix", "pr0ofpix", "proofpx", "admin", "adm1n",
                                  "rn-arketplace", "securlty", "api"])
def test_reserved_names_and_their_look_alikes(name: str) -> None:
    assert namespaces.reserved_match(skeleton(name)) is not None


@pytest.mark.parametrize("name", ["acme", "apix", "rooted", "photo-tools"])
def test_ordinary_names_are_not_reserved(name: str) -> None:
    assert namespaces.reserved_match(skeleton(name)) is None
