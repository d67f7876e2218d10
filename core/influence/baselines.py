"""Influence-function and label-quality baselines on the same inputs as the detectors.

Influence methods (core.influence.methods) are evaluated at the analyzed model's optimum on
its last layer: per-sample gradients kron(p − e_y, [h, 1]) of the training samples, the
true Hessian of the mean training loss (plus the training weight decay) through a
matrix-free Hessian-vector product, and as the "validation" gradient v the mean gradient
of the run's **validation split**: training samples with their given labels, as the paper
computes influence "only using the training samples". No baseline sees the test split,
so pruning by them is scored on data they never saw, like the detectors.

Label-quality methods (cleanlab) use the given labels and out-of-fold predicted
probabilities, as cleanlab requires; each applies to the task kinds its registry entry names
(multi-label: cleanlab.multilabel_classification, regression: cleanlab.regression).

For multi-label and regression runs the gradients are kron(r, h̃) with the task's residual r and the
Hessian mean_i J_i ⊗ h̃_i h̃_iᵀ with its curvature J (core.tasks: diag(σ(1 − σ)) for sigmoid binary
cross-entropy, 1 for squared error), so every influence method runs unchanged.

Every score is oriented like the detectors: higher = more harmful / more likely mislabelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.config import BaselineConfig
from core.gradients.last_layer import gradients_from_outputs
from core.influence.hessians import dense_hvp, last_layer_hessian, last_layer_hvp
from core.influence.label_quality import label_quality_scores
from core.influence.methods import influence_scores
from core.influence.registry import INFLUENCE_METHODS, LABEL_QUALITY_METHODS
from core.influence.solvers import damped_eigh, top_eigenvalue
from core.tasks.base import Task


@dataclass
class LastLayerState:
    """The analyzed model's last layer seen through its inputs and outputs."""

    features: np.ndarray
    """(n, D) training features h."""
    probs: np.ndarray
    """(n, C) training probabilities."""
    labels: np.ndarray
    """(n,) given labels."""
    val_rows: np.ndarray
    """(m,) rows of the validation split, whose mean gradient is v (every row when empty)."""
    include_bias: bool = True
    weight_decay: float = 0.0
    task: Task | None = None
    """The run's task (core.tasks): its residual r and curvature J; softmax cross-entropy when None."""

    def gradients(self, features: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(n, C·D̃) float64 last-layer gradients kron(r, h̃), r = p − e_y for softmax."""
        return gradients_from_outputs(features, probs, labels, self.include_bias, np.float64, task=self.task)

    @property
    def width(self) -> int:
        return self.probs.shape[1] * (self.features.shape[1] + int(self.include_bias))


@dataclass
class BaselineScores:
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    """What the methods shared: the Hessian's top eigenvalue and the absolute damping λ."""


LISSA_SCALE_FACTOR = 1.1
"""LiSSA's scale: this × the top Hessian eigenvalue (the recursion converges for any factor > 1/2)."""


def method_options(method: str, cfg: BaselineConfig, top_eigenvalue: float) -> dict:
    """The configured hyperparameters an influence method takes.

    exact, self_exact, lissa and self_lissa all solve against H + λI with the same
    λ = cfg.damping × the top eigenvalue of H, so they are compared on equal terms: exact
    solves it by eigendecomposition, LiSSA iterates towards the same operator (its damping
    parameter is relative to its scale). DataInf gets its λ factor.
    """
    damping = cfg.damping * top_eigenvalue
    if method in ("exact", "self_exact"):
        return {"damping": damping}
    if method in ("lissa", "self_lissa"):
        scale = LISSA_SCALE_FACTOR * top_eigenvalue if top_eigenvalue > 0 else 1.0
        return {"iterations": cfg.lissa_iterations, "scale": scale, "damping": damping / scale}
    if method in ("datainf", "self_datainf"):
        return {"lambda_factor": cfg.datainf_lambda_factor}
    return {}


def influence_baselines(state: LastLayerState, cfg: BaselineConfig) -> BaselineScores:
    """Harm scores (n,) of each configured influence method; methods that cannot run at this size are
    skipped with a note."""
    out = BaselineScores()
    n = len(state.labels)
    methods = cfg.influence
    if not methods:
        return out
    if n * state.width > cfg.max_gradient_values:
        out.notes.append(f"influence baselines skipped: {n} samples x {state.width} gradient values exceed "
                         f"baselines.max_gradient_values = {cfg.max_gradient_values}")
        return out
    train_grads = state.gradients(state.features, state.probs, state.labels)
    rows = state.val_rows if len(state.val_rows) else np.arange(n)
    val_grad = train_grads[rows].mean(axis=0)
    dense = state.width <= cfg.dense_hessian_max_width
    hessian_matrix = None
    if dense:
        hessian_matrix = last_layer_hessian(state.features, state.probs, state.include_bias, state.weight_decay,
                                            task=state.task)
        hvp = dense_hvp(hessian_matrix)
    else:
        hvp = last_layer_hvp(state.features, state.probs, state.include_bias, state.weight_decay, task=state.task)
    top = top_eigenvalue(hvp, state.width) if any(INFLUENCE_METHODS.entry(m).meta["needs_hessian"]
                                                  for m in methods) else 0.0
    out.facts.update(top_eigenvalue=top, damping=cfg.damping * top)
    shared = {}
    if dense and {"exact", "self_exact"} <= set(methods):  # one eigendecomposition of H + λI for both
        shared["decomposition"] = damped_eigh(hessian_matrix, cfg.damping * top)
    for method in methods:
        meta = INFLUENCE_METHODS.entry(method).meta
        if method in ("exact", "self_exact") and not dense:
            out.notes.append(f"{method} skipped: a dense {state.width}x{state.width} Hessian is too large "
                             "(lissa uses the same Hessian matrix-free)")
            continue
        info: dict = {}
        out.columns[method] = influence_scores(
            method, train_grads, val_grad if meta["needs_val_grad"] else None,
            hvp=hvp if meta["needs_hessian"] else None, info=info, **method_options(method, cfg, top),
            **(shared if method in ("exact", "self_exact") else {}))
        if info.get("converged") is False:
            out.notes.append(f"{method}: LiSSA's answer after {info.get('iterations_run')} iterations has relative "
                             f"residual {info.get('residual', float('nan')):.2g}; its scores are approximate (raise "
                             "--lissa-iterations or --damping)")
        if info.get("hessian") == "true" and info.get("damping", 0) > cfg.damping * top * (1 + 1e-9):
            out.notes.append(f"{method}: damping raised to {info['damping']:.3g} to make the Hessian positive "
                             "definite")
    return out


def label_quality_baselines(labels: np.ndarray, oof_probs: np.ndarray, methods: tuple[str, ...],
                            task: str = "classification", seed: int = 0) -> BaselineScores:
    """1 − cleanlab label quality (n,) for each method that applies to `task` (registry meta `tasks`), higher =
    more likely mislabelled; the others are listed in `facts["skipped"]` with the reason."""
    out = BaselineScores()
    skipped = {}
    for method in methods:
        tasks = LABEL_QUALITY_METHODS.entry(method).meta["tasks"]
        if task in tasks:
            out.columns[method] = label_quality_scores(labels, oof_probs, method, task, seed)
        else:
            skipped[method] = f"applies to {' and '.join(tasks)} runs, not {task}"
    if skipped:
        out.facts["skipped"] = skipped
    return out
