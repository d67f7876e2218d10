"""The single-process gradient path: the per-sample gradients of some rows, written into the matrix.

`gradient_rows` runs one model over a block of samples (one forward pass for the
last-layer factors, then the closed form or torch.func), projects the rows when asked
and writes them into the (memory-mapped) gradient matrix; only the small per-sample
arrays (`GradientRows`) are returned. Every executor (core.pipeline.executors) calls it,
in this process or on a worker, on the same aligned blocks, so where it runs never
changes a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import GradientConfig
from core.gradients.func import func_gradients
from core.gradients.last_layer import (
    LastLayerFactors,
    closed_form_norms,
    iter_closed_form_chunks,
    last_layer_factors,
)
from core.gradients.projection import Projector
from core.models.nets import FeatureModel
from core.models.training import to_tensor
from core.run.io import release_pages
from core.tasks.base import Task

FACTOR_BATCH = 1024
"""Batch size of the forward pass that yields the last-layer factors (`last_layer_factors`' default)."""
TOKEN_CHUNK = 32
"""Texts per backward pass of a model's own per-sample gradients (a transformer's activations bound it)."""


@dataclass
class GradientRows:
    """What the gradients of some rows leave besides the matrix rows: small per-sample arrays."""

    rows: np.ndarray
    """(b,) int64 global row indices."""
    probs: np.ndarray
    """(b, C) float32 predictions (softmax probabilities; core.tasks for the other kinds)."""
    loss: np.ndarray
    """(b,) float32 loss of the given label."""
    residual: np.ndarray
    """(b, C) float32 r = ∂ℓ/∂z (p − e_y for cross-entropy)."""
    grad_l1: np.ndarray
    """(b,) float64 L1 norm of the full (unprojected) gradient."""
    grad_l2: np.ndarray
    """(b,) float64 L2 norm of the full (unprojected) gradient."""


def gradient_rows(model: FeatureModel, x: np.ndarray, labels: np.ndarray, rows: np.ndarray,
                  grad_cfg: GradientConfig, projector: Projector | None, param_names: list[str] | None,
                  out: np.ndarray, task: Task | None = None) -> GradientRows:
    """Gradients of samples x (b, ...) with `labels` (b,), written to out[rows]; returns the rest.

    out: the (n, stored_width) gradient matrix (an array or a memory map); row rows[i] gets
    sample i's gradient, projected when `projector` is given. Last-layer gradients
    (`grad_cfg.layers == "last"`) come in closed form, their norms from the factors;
    otherwise `param_names` selects the parameters for `func_gradients` (or for the model's own
    `per_sample_gradients`, when it has one: text_lora's Linear-layer hooks). Runs `chunk_size`
    rows at a time, so memory is one chunk of full-width gradients.
    """
    factors = last_layer_factors(model, x, labels, batch_size=min(FACTOR_BATCH, model.forward_batch),
                                 input_transform=to_tensor, task=task)
    if grad_cfg.layers == "last":
        return factor_gradient_rows(factors, rows, grad_cfg, projector, out)
    chunk_size = grad_cfg.chunk_size
    grad_l1 = np.zeros(len(rows), np.float64)
    grad_l2 = np.zeros(len(rows), np.float64)
    # A model with its own fast path (text_lora: hooks) computes cross-entropy gradients only.
    own = getattr(model, "per_sample_gradients", None) if task is None or task.name == "classification" else None
    chunks = own(x, labels, param_names, min(chunk_size, TOKEN_CHUNK)) if own is not None else func_gradients(
        model, x, labels, param_names=param_names, chunk_size=chunk_size, input_transform=to_tensor, task=task)
    for start, chunk in chunks:
        stop = start + len(chunk)
        grad_l1[start:stop] = np.abs(chunk).sum(axis=1)
        grad_l2[start:stop] = np.linalg.norm(chunk, axis=1)
        out[rows[start:stop]] = projector.project(chunk) if projector is not None else chunk
    return GradientRows(rows=np.asarray(rows, dtype=np.int64), probs=factors.probs, loss=factors.loss,
                        residual=factors.residual, grad_l1=grad_l1, grad_l2=grad_l2)


def write_factor_rows(factors: LastLayerFactors, rows: np.ndarray, projector: Projector | None, out: np.ndarray,
                      include_bias: bool = True, chunk_size: int = 1024) -> None:
    """out[rows] = the last-layer gradients kron(r, [h, 1]) of `factors`, projected when a projector is
    given, `chunk_size` rows at a time: a Kronecker projector never forms a row, any other projects
    each materialized chunk. Pages of memory-mapped `out` and features are released per chunk."""
    rows = np.asarray(rows)
    if projector is not None and hasattr(projector, "project_factors"):
        for start in range(0, len(rows), chunk_size):
            stop = start + chunk_size
            out[rows[start:stop]] = projector.project_factors(factors.residual[start:stop],
                                                              factors.features[start:stop])
            release_pages(out)
            release_pages(factors.features)
    else:
        for start, chunk in iter_closed_form_chunks(factors, include_bias, chunk_size):
            out[rows[start:start + len(chunk)]] = projector.project(chunk) if projector is not None else chunk
            release_pages(out)
            release_pages(factors.features)


def factor_gradient_rows(factors: LastLayerFactors, rows: np.ndarray, grad_cfg: GradientConfig,
                         projector: Projector | None, out: np.ndarray) -> GradientRows:
    """Last-layer gradients kron(r, [h, 1]) of `factors` into out[rows] (projected when asked), in closed form."""
    grad_l1, grad_l2 = closed_form_norms(factors, grad_cfg.include_bias)
    write_factor_rows(factors, rows, projector, out, grad_cfg.include_bias, grad_cfg.chunk_size)
    return GradientRows(rows=np.asarray(rows, dtype=np.int64), probs=factors.probs, loss=factors.loss,
                        residual=factors.residual, grad_l1=grad_l1, grad_l2=grad_l2)
