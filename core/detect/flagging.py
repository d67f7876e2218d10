"""The budget that turns scores into flags: scores first, then exactly round(k·n) flags (halves up).

Scoring and flagging are separate steps (as cleanlab's rank / filter): every score
column is oriented higher = more outlying, and `flag(scores, budget)` marks the
`flag_count(budget, n)` highest. Every place that turns a budget into a count calls
`flag_count`, so the rule exists once.
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import ConfigError


def budget_count(budget: float, n: int) -> int:
    """round(budget · n) with halves rounded up (0.025 · 100 = 2.5 → 3): how many samples a budget flags."""
    return int(math.floor(budget * n + 0.5))


def flag_count(budget: float, n: int) -> int:
    """`budget_count(budget, n)`, refusing a budget outside (0, 1) or one that flags no sample."""
    if not 0 < budget < 1:
        raise ConfigError(f"budget must be a fraction in (0, 1), got {budget}")
    count = budget_count(budget, n)
    if count == 0:
        raise ConfigError(f"budget {budget} flags round({budget} * {n}) = 0 of {n} samples; use at least {1 / n:.4g}")
    return count


def flag(scores: np.ndarray, budget: float) -> np.ndarray:
    """(n,) bool mask of the round(budget * n) highest scores.

    Ties are broken deterministically by sample order (the earlier sample is flagged
    first), so the same scores always give the same flagged set. NaN scores rank last.
    """
    mask = np.zeros(len(scores), dtype=bool)
    mask[ranking(scores)[:flag_count(budget, len(scores))]] = True
    return mask


def nan_last(scores: np.ndarray) -> np.ndarray:
    """(n,) float64 scores with NaN and ±inf replaced by finite values that keep the order and rank
    NaN last (as `flag` does): AUROC and AP stay defined when a method could not score some samples."""
    values = np.asarray(scores, dtype=np.float64).copy()
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros_like(values)
    low, high = values[finite].min(), values[finite].max()
    span = max(high - low, 1.0)
    values[np.isposinf(values)] = high + span
    values[np.isneginf(values)] = low - span
    values[np.isnan(values)] = low - 2 * span
    return values


def ranking(scores: np.ndarray) -> np.ndarray:
    """(n,) int64 sample indices, most outlying first; ties by sample order, NaN scores last."""
    values = nan_last(scores)
    return np.lexsort((np.arange(len(values)), -values))


def rank_of(scores: np.ndarray) -> np.ndarray:
    """(n,) int rank, 1 = most outlying, with the same tie-break as `flag`."""
    ranked = ranking(scores)
    ranks = np.empty(len(ranked), dtype=np.int64)
    ranks[ranked] = np.arange(1, len(ranked) + 1)
    return ranks
