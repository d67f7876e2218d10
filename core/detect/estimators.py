"""Outlier detectors on per-sample gradients: scikit-learn estimators and their builders.

Every detector is a scikit-learn outlier estimator (`fit(X) -> self`,
`score_samples(X)`, where sklearn's convention is *lower = more abnormal*).
gradsift's own scores flip that sign once, in `outlier_scores`: **higher = more
outlying = more likely harmful**, the direction every score column in a run uses.

Builders (`build_<name>(cfg, seed)`) are registered in core.detect.registry. The norm
detectors (`l1`, `l2`) need no fitting, and for the last layer their score
is a closed-form product of two small norms (see core.gradients.last_layer), so the pipeline
takes them from the `grad_l1` / `grad_l2` columns instead of a gradient matrix;
`NormDetector` gives the same numbers from a materialized matrix.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM
from sklearn.utils.validation import check_is_fitted, validate_data

from core.config import DetectConfig
from core.detect.isolation_forest import FastIsolationForest
from core.detect.registry import DETECTORS
from core.errors import ConfigError


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


def build_iforest(cfg: DetectConfig, seed: int) -> FastIsolationForest:
    return FastIsolationForest(n_estimators=cfg.iforest_trees, random_state=seed, n_jobs=1)


def build_l1(cfg: DetectConfig, seed: int) -> NormDetector:
    return NormDetector(ord=1)


def build_l2(cfg: DetectConfig, seed: int) -> NormDetector:
    return NormDetector(ord=2)


def build_lof(cfg: DetectConfig, seed: int) -> _LOFScores:
    return _LOFScores(n_neighbors=cfg.lof_neighbors)


def build_ocsvm(cfg: DetectConfig, seed: int) -> OneClassSVM:
    return OneClassSVM(gamma="scale", nu=cfg.ocsvm_nu)


class _LOFScores(OutlierMixin, BaseEstimator):
    """LOF exposes scores of its training data as `negative_outlier_factor_`; this adapts it."""

    def __init__(self, n_neighbors: int = 20) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray, y=None) -> _LOFScores:
        self.lof_ = LocalOutlierFactor(n_neighbors=min(self.n_neighbors, max(len(X) - 1, 1))).fit(X)
        self.fit_X_ = np.asarray(X)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        if X is self.fit_X_ or (np.shape(X) == self.fit_X_.shape and np.array_equal(X, self.fit_X_)):
            return self.lof_.negative_outlier_factor_
        return LocalOutlierFactor(n_neighbors=self.lof_.n_neighbors, novelty=True).fit(
            self.fit_X_).score_samples(X)


def outlier_scores(name: str, gradients: np.ndarray, seed: int = 0, cfg: DetectConfig | None = None) -> np.ndarray:
    """Fit detector `name` on gradients (n, d) and return (n,) float64 scores, higher = more outlying.

    cfg: the detectors' hyperparameters (trees, neighbours, nu); default `DetectConfig()`.
    """
    build = DETECTORS.get(name)
    if build is None:
        raise ConfigError(f"detector {name!r} scores the outputs' loss gradient r, which the gradients stage stores "
                          "beside the gradients, not a gradient matrix")
    estimator = build(cfg or DetectConfig(), seed).fit(gradients)
    return -np.asarray(estimator.score_samples(gradients), dtype=np.float64)
