"""Figures of several rounds combined into one per row.

On a shared machine one run of a timed scenario can be slower by half because of
work that is not ours, and a single run per server decided whether a target held.
Each round runs every server once, one after the other, so a slow spell of the
machine falls on all of them alike. Times and rates report their median round;
counts (events missed, duplicates, streams open, connections) report their worst,
so that a failure in any round shows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bench.scenarios import Figure


def combine(rounds: Sequence[Sequence[Figure]]) -> list[Figure]:
    """Return one figure per label, in the order labels first appear."""
    by_label: dict[str, list[Figure]] = {}
    for figures in rounds:
        for figure in figures:
            by_label.setdefault(figure.label, []).append(figure)
    return [_combined(figures) for figures in by_label.values()]


def _combined(figures: list[Figure]) -> Figure:
    first = figures[0]
    if len(figures) == 1:
        return first
    values = [
        f.value for f in figures if f.value is not None and not math.isnan(f.value)
    ]
    notes = " / ".join(dict.fromkeys(f.note for f in figures if f.note))
    if not values:
        value = None
    elif first.timed:
        value = statistics.median(values)
    else:
        value = max(values) if first.lower_is_better else min(values)
    return Figure(
        first.label,
        value,
        first.unit,
        first.lower_is_better,
        notes,
        tuple(values) if first.timed else (),
    )
