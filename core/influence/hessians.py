"""Hessians of the training loss, explicit or as Hessian-vector products (hvp).

- `last_layer_hessian` / `last_layer_hvp`: the true Hessian of the mean training loss (softmax
  cross-entropy, or the run's task's: core.tasks) w.r.t. the last linear layer, in the kron layout
  of core.gradients.last_layer (dense, or matrix-free for wide heads).
- `model_hessian` / `model_hvp`: any parameters of a small model via torch.func.
- `empirical_fisher`: GᵀG/n (+ λI), the reference code's "exact", which is not the Hessian.

An hvp maps a (p, k) array V to H @ V (p, k); `as_hvp` / `as_dense` convert between the
two forms for the methods of core.influence.methods.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call, grad, hessian, jvp
from torch.nn import functional as F

from core.errors import ConfigError, DataError
from core.gradients.func import split_parameters
from core.gradients.last_layer import augment_features
from core.influence.common import DEFAULT_CHUNK_ROWS, check_grads, chunks
from core.tasks.base import Task
from core.tasks.classification import Classification

HVP = Callable[[np.ndarray], np.ndarray]
"""Hessian-vector product: (p, k) array V → (p, k) array H @ V."""


def _check_probs(probs: np.ndarray, n_rows: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != n_rows:
        raise DataError(f"probs must be (n, C) with n = {n_rows}, got shape {probs.shape}")
    return probs


def last_layer_hessian(features: np.ndarray, probs: np.ndarray, include_bias: bool = True,
                       weight_decay: float = 0.0, task: Task | None = None) -> np.ndarray:
    """(p, p) float64 Hessian of the mean training loss w.r.t. the last linear layer.

    features (n, D) penultimate activations h, probs (n, C) the stored predictions at θ̂ (softmax p by
    default; `task.curvature_entry` gives J_i = ∂²ℓ_i/∂z²: diag(p) − ppᵀ, diag(σ(1 − σ)) for multi-label, 1
    for regression). H = mean_i J_i ⊗ (h̃_i h̃_iᵀ) + weight_decay·I with h̃ = [h, 1]
    when `include_bias` (else h), in the kron layout of core.gradients.last_layer: p = C·(D+1),
    class-major, block c = [weight row c, bias c]. It does not depend on the labels.
    Memory is p² floats: for wide layers use `last_layer_hvp` instead.
    """
    h_aug = augment_features(features, include_bias, np.float64)
    probs = _check_probs(probs, len(h_aug))
    n, width = h_aug.shape
    n_classes = probs.shape[1]
    task = task or Classification()
    blocks = np.zeros((n_classes, width, n_classes, width))
    for a in range(n_classes):
        for b in range(a, n_classes):
            coeff = task.curvature_entry(probs, a, b)
            if np.isscalar(coeff) and coeff == 0.0:
                continue
            block = (h_aug * coeff[:, None]).T @ h_aug / max(n, 1)
            blocks[a, :, b, :] = block
            if b != a:
                blocks[b, :, a, :] = block.T
    out = blocks.reshape(n_classes * width, n_classes * width)
    if weight_decay:
        out[np.diag_indices_from(out)] += weight_decay
    return out


def last_layer_hvp(features: np.ndarray, probs: np.ndarray, include_bias: bool = True,
                   weight_decay: float = 0.0, chunk_rows: int = DEFAULT_CHUNK_ROWS, task: Task | None = None) -> HVP:
    """Matrix-free `last_layer_hessian`: V (p, k) → H @ V in O(n·C·(D+1)·k), never forming H.

    Per sample, with Z_i = V_c h̃_i the logit perturbation (C,), the Hessian maps V to
    mean_i (J_i Z_i) h̃_iᵀ (softmax: p_i ⊙ Z_i − p_i (p_iᵀ Z_i); `task.curvature_apply`). This is what makes
    LiSSA feasible for wide heads (CIFAR-100, p = 100·513).
    """
    h_aug = augment_features(features, include_bias, np.float64)
    probs = _check_probs(probs, len(h_aug))
    n, width = h_aug.shape
    n_classes = probs.shape[1]
    task = task or Classification()

    def hvp(vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float64)
        squeeze = vectors.ndim == 1
        n_cols = vectors.reshape(n_classes * width, -1).shape[1]
        # (W, C·k): column (c, k) is class c's weight-row perturbation of right-hand side k.
        mats = vectors.reshape(n_classes, width, n_cols).transpose(1, 0, 2).reshape(width, n_classes * n_cols)
        out = np.zeros((width, n_classes * n_cols))
        for start in range(0, n, chunk_rows):
            h_c, p_c = h_aug[start:start + chunk_rows], probs[start:start + chunk_rows]
            z = (h_c @ mats).reshape(len(h_c), n_classes, n_cols)  # logit perturbations (b, C, k)
            az = task.curvature_apply(p_c, z)
            out += h_c.T @ az.reshape(len(h_c), n_classes * n_cols)
        out = out.reshape(width, n_classes, n_cols).transpose(1, 0, 2).reshape(n_classes * width, n_cols)
        out /= max(n, 1)
        if weight_decay:
            out += weight_decay * vectors.reshape(n_classes * width, -1)
        return out[:, 0] if squeeze else out

    return hvp


def dense_hvp(hessian_matrix: np.ndarray) -> HVP:
    """The hvp of an explicit (p, p) matrix."""
    matrix = np.asarray(hessian_matrix, dtype=np.float64)
    return lambda vectors: matrix @ vectors


def _loss_of_flat_params(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, param_names: list[str],
                         weight_decay: float):
    named = dict(model.named_parameters())
    missing = [name for name in param_names if name not in named]
    if missing:
        raise ConfigError(f"unknown parameter names {missing}; the model has {list(named)}")
    _, frozen = split_parameters(model, param_names)
    shapes = [named[name].shape for name in param_names]
    sizes = [named[name].numel() for name in param_names]
    theta0 = torch.cat([named[name].detach().reshape(-1) for name in param_names])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(theta, sizes)
        params = {name: piece.reshape(shape) for name, piece, shape in zip(param_names, pieces, shapes)}
        logits = functional_call(model, {**frozen, **params}, (x,))
        return F.cross_entropy(logits, y) + 0.5 * weight_decay * (theta * theta).sum()

    return loss, theta0


def model_hessian(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, param_names: list[str],
                  weight_decay: float = 0.0) -> np.ndarray:
    """(p, p) float64 Hessian of mean cross-entropy (+ weight_decay/2·‖θ‖²) via torch.func.hessian.

    Layout: the parameters in `param_names` order, each flattened row-major (the layout
    of `core.gradients.last_layer.func_gradients`; for the head use `flat_head_to_kron`'s mapping
    to compare with `last_layer_hessian`). For small models only: memory is p².
    The model is evaluated in eval mode; its mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        loss, theta0 = _loss_of_flat_params(model, x, y, list(param_names), weight_decay)
        return hessian(loss)(theta0).detach().cpu().double().numpy()
    finally:
        model.train(was_training)


def model_hvp(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, param_names: list[str],
              weight_decay: float = 0.0) -> HVP:
    """Matrix-free `model_hessian`: V (p, k) → H @ V by forward-over-reverse (jvp of grad).

    The model must stay in eval mode and unchanged while the callable is used.
    """
    model.eval()
    loss, theta0 = _loss_of_flat_params(model, x, y, list(param_names), weight_decay)
    grad_fn = grad(loss)

    def hvp(vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float64)
        squeeze = vectors.ndim == 1
        cols = vectors.reshape(len(theta0), -1)
        out = np.empty_like(cols)
        for k in range(cols.shape[1]):
            tangent = torch.as_tensor(cols[:, k], dtype=theta0.dtype, device=theta0.device)
            out[:, k] = jvp(grad_fn, (theta0,), (tangent,))[1].detach().cpu().double().numpy()
        return out[:, 0] if squeeze else out

    return hvp


def empirical_fisher(train_grads: np.ndarray, damping: float = 0.0,
                     chunk_rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
    """(p, p) float64 damped empirical Fisher GᵀG/n + damping·I.

    An approximation of the Hessian from per-sample gradients only (Gauss–Newton-like at
    the optimum); the authors' reference code calls this "exact", which it is not.
    """
    grads = check_grads(train_grads)
    n, p = grads.shape
    out = np.zeros((p, p))
    for _, chunk in chunks(grads, chunk_rows):
        out += chunk.T @ chunk
    out /= max(n, 1)
    out[np.diag_indices_from(out)] += damping
    return out


def as_hvp(hessian_or_hvp, method: str) -> HVP:
    if hessian_or_hvp is None:
        raise ConfigError(f"influence method {method!r} needs a Hessian: pass hessian=(p, p) array or hvp=callable")
    if callable(hessian_or_hvp):
        return hessian_or_hvp
    matrix = np.asarray(hessian_or_hvp, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise DataError(f"hessian must be a square (p, p) array, got shape {matrix.shape}")
    return dense_hvp(matrix)


def as_dense(hessian_or_hvp, p: int, method: str, max_dense_dim: int) -> np.ndarray:
    if hessian_or_hvp is None:
        raise ConfigError(f"influence method {method!r} needs a Hessian: pass hessian=(p, p) array or hvp=callable")
    if not callable(hessian_or_hvp):
        matrix = np.asarray(hessian_or_hvp, dtype=np.float64)
        if matrix.shape != (p, p):
            raise DataError(f"hessian must be ({p}, {p}) to match train_grads, got {matrix.shape}")
        return matrix
    if p > max_dense_dim:
        raise ConfigError(f"method {method!r} materializes the {p}×{p} Hessian from the hvp, over max_dense_dim="
                          f"{max_dense_dim}; use 'lissa' / 'self_lissa' or raise max_dense_dim")
    matrix = np.empty((p, p))
    for start in range(0, p, 256):
        stop = min(start + 256, p)
        basis = np.zeros((p, stop - start))
        basis[np.arange(start, stop), np.arange(stop - start)] = 1.0
        matrix[:, start:stop] = hessian_or_hvp(basis)
    return matrix
