"""Which direction is better for each figure, and the Pareto frontier of quality against a cost.

A run is on the frontier when no other run is at least as good on both axes and strictly better on one.
Runs missing either figure, or with a NaN or infinite one (a diverged run), take no part.

Example:
    pareto_front([(10, 0.8), (1000, 0.9), (500, 0.7)], x_lower_is_better=True, y_higher_is_better=True)  # [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Cost figures of a RunRow, all lower-is-better, with the label an axis or column shows.
COSTS: dict[str, str] = {
    "trainable_params": "trainable parameters",
    "train_seconds": "train time (s)",
    "energy_kwh": "training energy (kWh)",
    "co2_kg": "CO2 (kg)",
    "peak_memory_bytes": "peak memory (bytes)",
}
LOWER_IS_BETTER_METRIC_WORDS = ("loss", "perplexity", "error", "wer", "cer", "runtime", "seconds")


def higher_is_better(metric: str, declared: bool | None = None) -> bool:
    """Direction of a quality metric: the report's `greater_is_better` when given, else guessed from its name
    (loss, perplexity, error rates and runtimes are lower-is-better; everything else higher-is-better)."""
    if declared is not None:
        return bool(declared)
    name = metric.lower()
    return not any(word in name for word in LOWER_IS_BETTER_METRIC_WORDS)


def dominates(a: tuple[float, float], b: tuple[float, float], x_lower_is_better: bool, y_higher_is_better: bool) -> bool:
    """True when point `a` is at least as good as `b` on both axes and strictly better on one."""
    ax, ay = (-a[0] if x_lower_is_better else a[0]), (a[1] if y_higher_is_better else -a[1])
    bx, by = (-b[0] if x_lower_is_better else b[0]), (b[1] if y_higher_is_better else -b[1])
    return ax >= bx and ay >= by and (ax > bx or ay > by)


def pareto_front(
    points: Sequence[tuple[float | None, float | None]],
    x_lower_is_better: bool = True,
    y_higher_is_better: bool = True,
) -> list[int]:
    """Indices (in input order) of the points no other point dominates; points with a `None`, NaN or infinity
    are left out.

    Args:
        points: (cost, quality) pairs.
        x_lower_is_better: direction of the cost axis (True for parameters, time, energy).
        y_higher_is_better: direction of the quality axis.
    """
    # both axes turned into "higher is better", then one sweep from the best cost down: O(n log n)
    usable = [(i, (-float(x) if x_lower_is_better else float(x), float(y) if y_higher_is_better else -float(y)))
              for i, (x, y) in enumerate(points)
              if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    usable.sort(key=lambda item: (-item[1][0], -item[1][1]))
    front: list[int] = []
    best_y = -math.inf  # the best quality among strictly better costs seen so far
    start = 0
    while start < len(usable):
        end = start
        while end < len(usable) and usable[end][1][0] == usable[start][1][0]:
            end += 1
        top = usable[start][1][1]  # the group of equal cost is sorted best quality first
        if top > best_y:  # nothing cheaper is as good: the group's best points (ties included) are on the frontier
            front += [i for i, (_, y) in usable[start:end] if y == top]
            best_y = top
        start = end
    return sorted(front)
