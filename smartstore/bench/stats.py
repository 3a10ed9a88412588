"""The one percentile rule every benchmark reports with."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` as one of the measured samples (nearest rank); NaN when empty."""
    data = np.fromiter(values, dtype=float)
    if data.size == 0:
        return float("nan")
    return float(np.percentile(data, q, method="nearest"))


def median(values: Iterable[float]) -> float:
    """The median of ``values`` (the mean of the middle two for an even count); NaN when empty."""
    data = np.fromiter(values, dtype=float)
    return float(np.median(data)) if data.size else float("nan")
