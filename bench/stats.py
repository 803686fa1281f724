"""Small statistics over latency samples, without third-party packages."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values, or None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(samples: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    return {
        "p50": _ms(percentile(ordered, 0.50)),
        "p99": _ms(percentile(ordered, 0.99)),
        "max": _ms(ordered[-1] if ordered else None),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0
