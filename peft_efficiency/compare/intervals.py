"""95% confidence intervals for repeated runs: Student's t for a mean, a seeded percentile bootstrap otherwise.

The t quantiles are the two-sided 95% points (0.975 quantile) of Student's t, tabulated from the standard table
for 1-30, 40, 60 and 120 degrees of freedom; between tabulated points they are interpolated linearly in 1/df (the
usual table rule), and beyond 120 towards the normal 1.95996.

Example:
    summary = summarize([0.86, 0.88, 0.90])   # n 3, mean 0.88, sd 0.02, [0.8303, 0.9297] (t 4.3027 with 2 df)
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from typing import Callable, Sequence

T_975: dict[int, float] = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060, 9: 2.2622, 10: 2.2281,
    11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930,
    20: 2.0860, 21: 2.0796, 22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484,
    29: 2.0452, 30: 2.0423, 40: 2.0211, 60: 2.0003, 120: 1.9799,
}
Z_975 = 1.95996
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
T_NOTE = "Student t with n-1 degrees of freedom"


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df in T_975:
        return T_975[df]
    known = sorted(T_975)
    upper = next((k for k in known if k > df), None)
    lower = max(k for k in known if k < df)
    high_df, high_t = (upper, T_975[upper]) if upper else (math.inf, Z_975)
    weight = (1 / lower - 1 / df) / (1 / lower - (0 if high_df == math.inf else 1 / high_df))
    return T_975[lower] + weight * (high_t - T_975[lower])


@dataclass
class Summary:
    """n values: their mean, sample standard deviation and 95% t interval of the mean (None for n < 2)."""

    n: int
    mean: float | None
    sd: float | None = None
    low: float | None = None
    high: float | None = None


def summarize(values: Sequence[float]) -> Summary:
    """Mean, standard deviation (n-1) and 95% Student-t interval of the mean of `values`."""
    n = len(values)
    if n == 0:
        return Summary(0, None)
    mean = statistics.fmean(values)
    if n == 1:
        return Summary(1, mean)
    sd = statistics.stdev(values)
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def bootstrap_interval(a: Sequence[float], b: Sequence[float], statistic: Callable[[float, float], float | None],
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """95% percentile interval of `statistic(mean of a*, mean of b*)` over resamples (with replacement) of each side,
    with a fixed RNG seed so the same runs always give the same interval; None when a side is empty."""
    if not a or not b:
        return None
    rng = random.Random(seed)
    stats = []
    for _ in range(resamples):
        mean_a = statistics.fmean(rng.choices(a, k=len(a)))
        mean_b = statistics.fmean(rng.choices(b, k=len(b)))
        value = statistic(mean_a, mean_b)
        if value is not None and math.isfinite(value):
            stats.append(value)
    if not stats:
        return None
    stats.sort()
    low = stats[max(math.ceil(0.025 * len(stats)) - 1, 0)]
    high = stats[max(math.ceil(0.975 * len(stats)) - 1, 0)]
    return low, high


def includes(low: float | None, high: float | None, null: float) -> bool | None:
    """Whether [low, high] holds `null` (no difference); None without an interval."""
    if low is None or high is None:
        return None
    return low <= null <= high
