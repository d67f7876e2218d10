"""The budget that turns scores into flags: scores first, then exactly round(k·n) flags (halves up).

Scoring and flagging are separate steps (as cleanlab's rank / filter): every score
column is oriented higher = more outlying, and `flag(scores, budget)` marks the
`flag_count(budget, n)` highest. Every place that turns a budget into a count calls
`flag_count`, so the rule exists once.

`Flagging` is the decision itself (whose ranking, which budget, the count), resolved once
from the run's `FlagConfig` and its suggested budget and stored in the manifest's
`flagging`: the CLI, the API, retraining, exports and the dashboard all read it from there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from core.errors import ConfigError


def primary_of(primary: str | None, detectors: Sequence[str], task: str) -> str:
    """The detector whose ranking is flagged: `primary` when named, else the task kind's own (core.tasks registry
    meta `detector`: l2, residual for regression) when it is among `detectors`, else the first of them."""
    from core.tasks.registry import TASKS

    if primary is not None:
        return primary
    own = TASKS.entry(task).meta["detector"]
    return own if own in detectors else detectors[0]


@dataclass(frozen=True)
class Flagging:
    """Which detector's ranking is flagged and how many samples: the run's decision, or a what-if of it.

    budget: the fraction flagged (under `auto`, the suggested budget it resolved to); count:
    `flag_count(budget, n)`, the number of samples flagged out of n.
    """

    detector: str
    budget: float
    auto: bool
    count: int
    n: int

    @classmethod
    def resolve(cls, detector: str, budget: float | None, n: int, *, suggested: float | None = None,
                n_classes: int | None = None) -> Flagging:
        """The decision for n samples: `budget`, or the `suggested` budget when `budget` is None (auto).

        Refused (ConfigError, one line) when it flags no sample, every sample, or leaves fewer samples
        than the `n_classes` a retrained model needs (`gradsift analyze --budget 0.99` on a small dataset)."""
        auto = budget is None
        if auto:
            if suggested is None:
                raise ConfigError("the automatic budget needs the suggested budget, which the suggest stage has not "
                                  "computed yet")
            budget = suggested
        count = flag_count(budget, n)
        kept = n - count
        if kept < max(n_classes or 1, 1):
            most = max(n - max(n_classes or 1, 1), 1) / n
            raise ConfigError(f"budget {budget:g} flags {count} of {n} samples and keeps {kept}, fewer than the "
                              f"{n_classes or 1} class(es) a retrained model needs; use a budget of at most {most:.4g}")
        return cls(detector, float(budget), bool(auto), count, int(n))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Flagging:
        """The manifest's `flagging` block back as a value."""
        return cls(str(raw["detector"]), float(raw["budget"]), bool(raw["auto"]), int(raw["count"]), int(raw["n"]))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def at(self, budget: float, detector: str | None = None) -> Flagging:
        """The same decision at another budget (and detector): what a budget slider shows before anything reruns."""
        return replace(self, detector=detector or self.detector, budget=float(budget), auto=False,
                       count=budget_count(budget, self.n))

    def mask(self, scores: np.ndarray | None = None, *, ranks: np.ndarray | None = None) -> np.ndarray:
        """(n,) bool: the `count` highest `scores` (ties by sample order, NaN last), or, from `ranks` already
        computed by `rank_of(scores)` (1 = most outlying; a view redrawn at every budget), those ranked <= count."""
        if ranks is None:
            if scores is None or len(scores) != self.n:
                raise ConfigError(f"flagging is for {self.n} samples, got {None if scores is None else len(scores)}")
            ranks = rank_of(scores)
        return np.asarray(ranks) <= self.count


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
