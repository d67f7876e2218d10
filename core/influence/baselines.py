"""Influence-function and label-quality baselines on the same inputs as the detectors.

Influence methods (core.influence.methods) are evaluated at the analyzed model's optimum on
its last layer: per-sample gradients kron(p − e_y, [h, 1]) of the training samples,
the true Hessian of the mean training loss (plus the training weight decay) through a
matrix-free Hessian-vector product, and as the "validation" gradient the mean gradient
of the **test split** (the paper computes influence on the held-out set). Influence
baselines therefore see test labels, which the outlier detectors never do: any
comparison is tilted in the baselines' favour, not ours.

Label-quality methods (cleanlab) use the given labels and out-of-fold predicted
probabilities, as cleanlab requires.

Every score is oriented like the detectors: higher = more harmful / more likely mislabelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.config import BaselineConfig
from core.errors import ConfigError
from core.gradients.last_layer import gradients_from_outputs
from core.influence.methods import INFLUENCE_METHODS, dense_hvp, influence_scores, last_layer_hessian, last_layer_hvp
from core.influence.label_quality import LABEL_QUALITY_METHODS, label_quality_scores

DENSE_HESSIAN_MAX_WIDTH = 4096
"""Widest last layer for which `exact` / `self_exact` build the Hessian; wider layers skip them."""


def check_baseline_names(cfg: BaselineConfig) -> None:
    for name in cfg.influence:
        if name not in INFLUENCE_METHODS:
            raise ConfigError(f"unknown influence method {name!r}; valid methods: {', '.join(INFLUENCE_METHODS)}")
    for name in cfg.label_quality:
        if name not in LABEL_QUALITY_METHODS:
            raise ConfigError(f"unknown label-quality method {name!r}; valid methods: "
                              f"{', '.join(LABEL_QUALITY_METHODS)}")


@dataclass
class LastLayerState:
    """The analyzed model's last layer seen through its inputs and outputs."""

    features: np.ndarray
    """(n, D) training features h."""
    probs: np.ndarray
    """(n, C) training probabilities."""
    labels: np.ndarray
    """(n,) given labels."""
    test_features: np.ndarray
    test_probs: np.ndarray
    test_labels: np.ndarray
    include_bias: bool = True
    weight_decay: float = 0.0

    def gradients(self, features: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(n, C·D̃) float64 last-layer gradients kron(p − e_y, h̃)."""
        return gradients_from_outputs(features, probs, labels, self.include_bias, np.float64)

    @property
    def width(self) -> int:
        return self.probs.shape[1] * (self.features.shape[1] + int(self.include_bias))


@dataclass
class BaselineScores:
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def influence_baselines(state: LastLayerState, methods: tuple[str, ...], max_values: int) -> BaselineScores:
    """Harm scores (n,) of each influence method; methods that cannot run at this size are skipped with a note."""
    out = BaselineScores()
    n = len(state.labels)
    if not methods:
        return out
    if n * state.width > max_values:
        out.notes.append(f"influence baselines skipped: {n} samples x {state.width} gradient values exceed "
                         f"baselines.max_gradient_values = {max_values}")
        return out
    train_grads = state.gradients(state.features, state.probs, state.labels)
    val_grad = state.gradients(state.test_features, state.test_probs, state.test_labels).mean(axis=0)
    dense = state.width <= DENSE_HESSIAN_MAX_WIDTH
    if dense:
        hvp = dense_hvp(last_layer_hessian(state.features, state.probs, state.include_bias, state.weight_decay))
    else:
        hvp = last_layer_hvp(state.features, state.probs, state.include_bias, state.weight_decay)
    for method in methods:
        spec = INFLUENCE_METHODS[method]
        if method in ("exact", "self_exact") and not dense:
            out.notes.append(f"{method} skipped: a dense {state.width}x{state.width} Hessian is too large "
                             "(lissa uses the same Hessian matrix-free)")
            continue
        info: dict = {}
        out.columns[method] = influence_scores(
            method, train_grads, val_grad if spec.needs_val_grad else None,
            hvp=hvp if spec.needs_hessian else None, info=info)
        if info.get("converged") is False:
            out.notes.append(f"{method}: LiSSA did not reach its tolerance in {info.get('iterations_run')} "
                             "iterations; its scores are approximate")
        if info.get("hessian") == "true" and info.get("damping"):
            out.notes.append(f"{method}: damping {info['damping']:.3g} added to make the Hessian positive definite")
    return out


def label_quality_baselines(labels: np.ndarray, oof_probs: np.ndarray, methods: tuple[str, ...]) -> BaselineScores:
    """1 − cleanlab label quality (n,) for each method, higher = more likely mislabelled."""
    return BaselineScores({method: label_quality_scores(labels, oof_probs, method) for method in methods})
