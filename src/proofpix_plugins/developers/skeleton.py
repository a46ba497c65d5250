"""Unicode TR39 skeletons: one string for every namespace that looks like another.

``skeleton(name)`` implements UTS #39 §4 (NFD, map each character through ``confusables.txt``
to its prototype, NFD again) with two steps of our own around it: case folding and removing the
separators ``-``, ``_`` and ``.``, repeated until nothing changes. So ``Proof-Pix``,
``pr0ofpix`` (``0`` → ``O`` → ``o``), a dotless i (U+0131) or a Cyrillic er (U+0440) in place
of ``i`` or ``p`` all give ``proofpix``'s skeleton, and ``market`` gives ``rnarket``'s (UTS #39
maps ``m`` to ``rn``).

The mapping is Unicode's own ``confusables.txt`` (version in its header), committed verbatim
under ``data/`` with Unicode's license beside it, rather than a library's copy: skeletons are
stored (``developers.skeleton``, unique), so every process on every machine must compute the
same one, which a system ICU or a library upgrade would not guarantee. Upgrading the file is a
deliberate change that recomputes the stored skeletons (docs/decisions.md).
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources
from typing import Final

SEPARATORS: Final = frozenset("-_.")
#: Folding, separator removal and mapping converge in two rounds for every input we tried;
#: the bound only guarantees termination.
_MAX_ROUNDS: Final = 8


@cache
def confusables() -> dict[str, str]:
    """Source character → prototype sequence, from ``data/confusables.txt``."""
    text = resources.files(__package__).joinpath("data/confusables.txt").read_text("utf-8-sig")
    table: dict[str, str] = {}
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        fields = [f.strip() for f in data.split(";")]
        if len(fields) < 2:
            continue
        source = "".join(chr(int(cp, 16)) for cp in fields[0].split())
        target = "".join(chr(int(cp, 16)) for cp in fields[1].split())
        table[source] = target
    return table


def tr39_skeleton(text: str) -> str:
    """The plain UTS #39 skeleton (case-sensitive, separators kept)."""
    table = confusables()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(table.get(ch, ch) for ch in decomposed))


def skeleton(name: str) -> str:
    """What two namespaces that look alike have in common (see the module docstring)."""
    current = name
    for _ in range(_MAX_ROUNDS):
        folded = unicodedata.normalize("NFD", current.casefold())
        stripped = "".join(ch for ch in folded if ch not in SEPARATORS)
        following = tr39_skeleton(stripped)
        if following == current:
            break
        current = following
    return current
