"""How many wrong labels are left among the unreviewed samples: two estimates with opposite biases, and their range.

1. `disagreement_count`: the unreviewed samples whose label the last layer refit with the reviews applied
   (core.review.refit, in-sample) does not predict (`predicted_differs`: another class, another tag set,
   a value more than the label form's tolerance away). It counts clean samples the head gets wrong and
   misses wrong labels the features have absorbed; on digits and MNIST the first outweighs the second, so
   it runs high. For tags one wrong tag of any sample counts, and for values the count hangs on the
   tolerance (10% of the target's robust scale): a regression whose clean targets scatter more than that
   around the fit makes it run high; neither kind's count has been measured against the truth yet.
2. `mixture_count`: a two-component Gaussian mixture on the log of the static score (one component the
   clean samples, one the wrong labels), fit by EM with every reviewed sample's component fixed by the
   reviewer's decision; the sum of the unreviewed samples' probabilities of the "wrong" component. Wrong
   labels the model has memorized score like clean ones, so it runs low.

`estimate_remaining` reports both, their range and its midpoint. docs/review-loop.md measures how often
the range holds the true count and how far the midpoint is from it (the truth used only there).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit

MAX_EM_ITERATIONS = 500
INITIAL_WRONG_SHARE = 0.1
"""The EM starts with the top 10% of scores in the "wrong" component."""


def disagreement_count(disagrees: np.ndarray, unreviewed: np.ndarray) -> int:
    """How many `unreviewed` samples the refit's prediction disagrees with (`disagrees` (n,) bool:
    core.review.refit.predicted_differs)."""
    return int(np.asarray(disagrees, dtype=bool)[np.asarray(unreviewed, dtype=np.int64)].sum())


def _log_density(z: np.ndarray, mean: float, variance: float) -> np.ndarray:
    return -0.5 * np.log(2 * np.pi * variance) - 0.5 * (z - mean) ** 2 / variance


def mixture_responsibilities(scores: np.ndarray, reviewed: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """(n,) float64 probability that each sample belongs to the high ("wrong") component of a two-Gaussian
    mixture on z = log(scores) (scores as they are when any is ≤ 0); reviewed samples are fixed at 1 (wrong)
    or 0 (kept) throughout EM, so the reviewer's decisions anchor the components."""
    values = np.asarray(scores, dtype=np.float64)
    values = np.where(np.isfinite(values), values, np.nanmin(values[np.isfinite(values)]))
    z = np.log(values) if values.min() > 0 else values
    reviewed = np.asarray(reviewed, dtype=np.int64)
    known = np.asarray(wrong, dtype=np.float64)
    floor = 1e-6 * max(float(z.var()), 1e-12)
    resp = (z >= np.quantile(z, 1 - INITIAL_WRONG_SHARE)).astype(np.float64)
    resp[reviewed] = known
    for _ in range(MAX_EM_ITERATIONS):
        weight = float(np.clip(resp.mean(), 1e-6, 1 - 1e-6))
        mass_wrong, mass_clean = max(resp.sum(), 1e-12), max((1 - resp).sum(), 1e-12)
        mean_wrong, mean_clean = (resp * z).sum() / mass_wrong, ((1 - resp) * z).sum() / mass_clean
        var_wrong = (resp * (z - mean_wrong) ** 2).sum() / mass_wrong + floor
        var_clean = ((1 - resp) * (z - mean_clean) ** 2).sum() / mass_clean + floor
        log_odds = (np.log(weight) + _log_density(z, mean_wrong, var_wrong)
                    - np.log(1 - weight) - _log_density(z, mean_clean, var_clean))
        updated = expit(log_odds)
        if mean_wrong < mean_clean:  # the components swapped: keep "wrong" the high one
            updated = 1 - updated
        updated[reviewed] = known
        if np.abs(updated - resp).max() < 1e-7:
            return updated
        resp = updated
    return resp


def mixture_count(scores: np.ndarray, reviewed: np.ndarray, wrong: np.ndarray, unreviewed: np.ndarray) -> float:
    """Σ over `unreviewed` of `mixture_responsibilities`: the expected number of wrong labels among them."""
    return float(mixture_responsibilities(scores, reviewed, wrong)[np.asarray(unreviewed, dtype=np.int64)].sum())


@dataclass
class RemainingEstimate:
    """The errors left among the unreviewed samples: both estimates, their range and its midpoint."""

    estimate: float
    low: float
    high: float
    disagreement: float
    mixture: float
    n_unreviewed: int

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_remaining(disagrees: np.ndarray, static: np.ndarray, reviewed: np.ndarray, wrong: np.ndarray,
                       unreviewed: np.ndarray) -> RemainingEstimate:
    """Both estimates for the `unreviewed` samples: `disagrees` (n,) bool whether the in-sample refit predicts
    another label than the one after the reviews, `static` (n,) the primary detector's scores, `reviewed`/`wrong`
    the decisions."""
    disagreement = float(disagreement_count(disagrees, unreviewed))
    mixture = mixture_count(static, reviewed, wrong, unreviewed)
    low, high = min(disagreement, mixture), max(disagreement, mixture)
    return RemainingEstimate(estimate=(low + high) / 2, low=low, high=high, disagreement=disagreement,
                             mixture=mixture, n_unreviewed=int(len(unreviewed)))
