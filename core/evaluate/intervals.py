"""Uncertainty over seeds: the mean and 95% t-interval of a handful of per-seed results.

A before/after claim on one seed is noise (on digits one seed moves test accuracy by about
±1 point), so every retraining is repeated over seeds and reported as mean ± t_{0.975, N−1}·s/√N,
the interval for the mean of N independent draws (Student's t, since N is small). Paired
differences (accuracy at k minus accuracy at k = 0 on the same seed) get the same interval;
a difference is called distinguishable from zero only when its interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95


def t_interval(values: Sequence[float], level: float = LEVEL,
               bounds: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """(mean, low, high) of the t-interval for the mean of `values`; low/high are NaN for fewer than 2 values.

    bounds: the range the quantity lives in (an accuracy: (0, 1)); the interval is clipped to it.
    """
    array = np.asarray([value for value in values if value is not None and value == value], dtype=np.float64)
    if len(array) == 0:
        return math.nan, math.nan, math.nan
    mean = float(array.mean())
    if len(array) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, df=len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array)))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, low, high
