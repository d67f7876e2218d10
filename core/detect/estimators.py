"""Outlier detectors on per-sample gradients, and the budget that turns scores into flags.

Every detector is a scikit-learn outlier estimator (`fit(X) -> self`,
`score_samples(X)`, where sklearn's convention is *lower = more abnormal*).
gradsift's own scores flip that sign once, in `outlier_scores`: **higher = more
outlying = more likely harmful**, the direction every score column in a run uses.

The norm detectors (`l1`, `l2`) need no fitting, and for the last layer their score
is a closed-form product of two small norms (see core.gradients.last_layer), so the pipeline
takes them from the `grad_l1` / `grad_l2` columns instead of a gradient matrix;
`NormDetector` gives the same numbers from a materialized matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM
from sklearn.utils.validation import check_is_fitted, validate_data

from core.errors import ConfigError
from core.detect.isolation_forest import FastIsolationForest


class NormDetector(OutlierMixin, BaseEstimator):
    """Scores a sample by the Lp norm of its gradient: large gradients are outliers."""

    def __init__(self, ord: int = 2) -> None:
        self.ord = ord

    def fit(self, X: np.ndarray, y=None) -> NormDetector:
        X = validate_data(self, X)
        self.offset_ = -float(np.quantile(np.linalg.norm(X, ord=self.ord, axis=1), 0.95))
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """(n,) minus the gradient norm: lower = more abnormal, as in sklearn."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return -np.linalg.norm(X, ord=self.ord, axis=1)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.score_samples(X) - self.offset_

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.where(self.decision_function(X) < 0, -1, 1)


@dataclass(frozen=True)
class DetectorSpec:
    """A registered detector: how to build it, and the closed-form column that replaces it, if any."""

    build: Callable[[int, int], OutlierMixin]
    """build(seed, n_trees) -> an unfitted sklearn-style outlier estimator."""
    help: str
    norm_column: str | None = None


DETECTORS: dict[str, DetectorSpec] = {}


def register_detector(name: str, help: str, norm_column: str | None = None):
    def wrap(build: Callable[[int, int], OutlierMixin]):
        DETECTORS[name] = DetectorSpec(build=build, help=help, norm_column=norm_column)
        return build

    return wrap


register_detector("iforest", "Isolation Forest on the gradients (the paper's preferred detector)")(
    lambda seed, trees: FastIsolationForest(n_estimators=trees, random_state=seed, n_jobs=1)
)
register_detector("l1", "L1 norm of the gradient (largest = most outlying)", norm_column="grad_l1")(
    lambda seed, trees: NormDetector(ord=1)
)
register_detector("l2", "L2 norm of the gradient (largest = most outlying)", norm_column="grad_l2")(
    lambda seed, trees: NormDetector(ord=2)
)
register_detector("lof", "Local Outlier Factor (sklearn, novelty=False scores on the fit data)")(
    lambda seed, trees: _LOFScores()
)
register_detector("ocsvm", "One-class SVM with an RBF kernel (sklearn)")(
    lambda seed, trees: OneClassSVM(gamma="scale", nu=0.05)
)


class _LOFScores(OutlierMixin, BaseEstimator):
    """LOF exposes scores of its training data as `negative_outlier_factor_`; this adapts it."""

    def fit(self, X: np.ndarray, y=None) -> _LOFScores:
        self.lof_ = LocalOutlierFactor(n_neighbors=min(20, max(len(X) - 1, 1))).fit(X)
        self.fit_X_ = np.asarray(X)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        if X is self.fit_X_ or (np.shape(X) == self.fit_X_.shape and np.array_equal(X, self.fit_X_)):
            return self.lof_.negative_outlier_factor_
        return LocalOutlierFactor(n_neighbors=self.lof_.n_neighbors, novelty=True).fit(
            self.fit_X_).score_samples(X)


def get_detector(name: str) -> DetectorSpec:
    """The registered detector; unknown names raise a ConfigError listing the valid ones."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}; valid detectors: {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name]


def outlier_scores(name: str, gradients: np.ndarray, seed: int = 0, n_trees: int = 100) -> np.ndarray:
    """Fit detector `name` on gradients (n, d) and return (n,) float64 scores, higher = more outlying."""
    estimator = get_detector(name).build(seed, n_trees).fit(gradients)
    return -np.asarray(estimator.score_samples(gradients), dtype=np.float64)


def flag_count(budget: float, n: int) -> int:
    """Exactly round(budget * n) samples are flagged; the budget must be a fraction in (0, 1)."""
    if not 0 < budget < 1:
        raise ConfigError(f"budget must be a fraction in (0, 1), got {budget}")
    count = int(round(budget * n))
    if count == 0:
        raise ConfigError(f"budget {budget} flags round({budget} * {n}) = 0 of {n} samples; use at least {1 / n:.4g}")
    return count


def flag(scores: np.ndarray, budget: float) -> np.ndarray:
    """(n,) bool mask of the round(budget * n) highest scores.

    Ties are broken deterministically by sample order (the earlier sample is flagged
    first), so the same scores always give the same flagged set. NaN scores rank last.
    """
    scores = np.asarray(scores, dtype=np.float64)
    count = flag_count(budget, len(scores))
    ranked = np.lexsort((np.arange(len(scores)), -np.nan_to_num(scores, nan=-np.inf)))
    mask = np.zeros(len(scores), dtype=bool)
    mask[ranked[:count]] = True
    return mask


def rank_of(scores: np.ndarray) -> np.ndarray:
    """(n,) int rank, 1 = most outlying, with the same tie-break as `flag`."""
    scores = np.asarray(scores, dtype=np.float64)
    ranked = np.lexsort((np.arange(len(scores)), -np.nan_to_num(scores, nan=-np.inf)))
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[ranked] = np.arange(1, len(scores) + 1)
    return ranks
