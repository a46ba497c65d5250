"""The one percentile definition every benchmark prints.

Imported as ``from _stats import percentile``: a benchmark runs as ``python bench/<name>.py``, so
this directory is first on ``sys.path``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 ≤ q ≤ 1) of ``samples``, linearly interpolated between closest ranks.

    This is ``statistics.quantiles(samples, n=100, method="inclusive")`` (NumPy's default,
    "linear"), computed for any ``q``: the sorted samples sit at positions 0 … n-1 and the result
    is read at position ``q * (n - 1)``. So ``percentile(s, 0.5) == statistics.median(s)``, the
    p50 columns and the tail columns come from one definition, and 0 and 1 give the extremes.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within [0, 1], got {q}")
    ordered = sorted(samples)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])
