"""Influence-function baselines: exact Hessian, empirical Fisher, LiSSA, DataInf, gradient tracing, self-influence.

Sign convention (one for the whole project)
-------------------------------------------
Every function here returns a **harm** score, ``(n,) float64, higher = more harmful``,
the same direction as the outlier detectors (higher = more outlying).

Let the model minimize the mean training loss R(θ) = (1/n) Σ_i ℓ(z_i; θ) (+ weight
decay), H = ∇²R(θ̂), g_j = ∇ℓ(z_j; θ̂) and v = the mean validation-loss gradient.
Upweighting z_j by ε moves the optimum by dθ/dε = −H⁻¹g_j, so the validation loss
changes at the rate (Koh & Liang 2017, "I_up,loss")

    I(z_j) = −vᵀ H⁻¹ g_j.

Removing z_j is ε = −1/n, so leave-one-out retraining changes the validation loss by

    Δ_j = L_val(without z_j) − L_val(with z_j) ≈ −I(z_j) / n.

A sample is harmful when removing it *lowers* the validation loss (Δ_j < 0), i.e.
when I(z_j) > 0. Hence

    harm_j = I(z_j) = −vᵀ H⁻¹ g_j ≈ −n · Δ_j,

which is what `exact`, `fisher`, `lissa` and `datainf` return (each with its own
approximation of H⁻¹), and `tracing` with H = I (harm = −v·g_j: a gradient step on a
sample whose gradient points against the validation gradient raises validation loss).
This equals eq. (1) of the Outlier Gradient Analysis paper and DataInf's influence,
where positive = detrimental; the paper's eq. (2) labels ``I < 0`` as detrimental,
which contradicts its own next sentence ("a positive value ... means that removing the
sample enhances the model's utility") and the derivation above. The orientation is
checked against leave-one-out retraining of a convex model in tests/test_influence.py.

Self-influence (``self_*``) scores g_jᵀ H⁻¹ g_j ≥ 0: the first-order increase of z_j's
*own* loss when z_j is removed. It needs no validation set. Samples the rest of the data
cannot explain — mislabelled or atypical ones — are fitted only because they are in the
training set, so their loss jumps when they are left out: high self-influence = more
likely harmful (Bejan et al. 2023).

Inputs
------
``train_grads`` (n, p): one per-sample training-loss gradient per row, any consistent
layout (e.g. the kron layout of core.gradients.last_layer). ``val_grad`` (p,): the mean validation
gradient in the same layout. The Hessian is given either explicitly, ``hessian`` (p, p),
or as a Hessian-vector product ``hvp``: a callable mapping a (p, k) array V to H @ V
(p, k) (`dense_hvp`, `last_layer_hvp` and `model_hvp` build one). Work over the
training set is done in row chunks: one solve against v, then G @ s, O(np); no n×n
matrix is ever formed.

Methods (`INFLUENCE_METHODS`; `influence_scores` is the single entry point):

- ``exact``: true Hessian (explicit, or materialized from an hvp for small p), damped
  by λI with λ raised ×10 until H + λI is safely positive definite.
- ``fisher``: the damped *empirical Fisher* GᵀG/n + λI in place of H. (The reference
  code calls this "exact"; it is not the Hessian.)
- ``lissa``: Koh & Liang's recursion r ← v + (1 − damping)·r − H r / scale, r / scale
  ≈ (H + damping·scale·I)⁻¹ v.
- ``datainf``: Kwon et al. 2024's closed-form inverse, per named parameter block.
- ``tracing``: single-checkpoint TracIn / gradient tracing, −v·g.
- ``self_exact``, ``self_lissa``, ``self_datainf``: g_jᵀ H̃⁻¹ g_j with the true Hessian,
  LiSSA, and DataInf's inverse approximation respectively.

Every method accepts ``info=<dict>``; it is filled with what the method used (damping λ,
LiSSA scale, iterations run, DataInf's λ_l ...) so a caller can record it next to the scores.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, grad, hessian, jvp
from torch.nn import functional as F

from core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

HVP = Callable[[np.ndarray], np.ndarray]
"""Hessian-vector product: (p, k) array V → (p, k) array H @ V."""

DEFAULT_CHUNK_ROWS = 4096
"""Rows of the (n, p) gradient matrix converted to float64 at a time."""


# --------------------------------------------------------------------------- Hessians


def _augment(features: np.ndarray, include_bias: bool) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise DataError(f"features must be (n, D), got shape {features.shape}")
    if not include_bias:
        return features
    return np.concatenate([features, np.ones((len(features), 1))], axis=1)


def _check_probs(probs: np.ndarray, n_rows: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != n_rows:
        raise DataError(f"probs must be (n, C) with n = {n_rows}, got shape {probs.shape}")
    return probs


def last_layer_hessian(features: np.ndarray, probs: np.ndarray, include_bias: bool = True,
                       weight_decay: float = 0.0) -> np.ndarray:
    """(p, p) float64 Hessian of the mean softmax cross-entropy w.r.t. the last linear layer.

    features (n, D) penultimate activations h, probs (n, C) softmax outputs p at θ̂.
    H = mean_i (diag(p_i) − p_i p_iᵀ) ⊗ (h̃_i h̃_iᵀ) + weight_decay·I with h̃ = [h, 1]
    when `include_bias` (else h), in the kron layout of core.gradients.last_layer: p = C·(D+1),
    class-major, block c = [weight row c, bias c]. It does not depend on the labels.
    Memory is p² floats: for wide layers use `last_layer_hvp` instead.
    """
    h_aug = _augment(features, include_bias)
    probs = _check_probs(probs, len(h_aug))
    n, width = h_aug.shape
    n_classes = probs.shape[1]
    blocks = np.zeros((n_classes, width, n_classes, width))
    for a in range(n_classes):
        for b in range(a, n_classes):
            coeff = (probs[:, a] if a == b else 0.0) - probs[:, a] * probs[:, b]
            block = (h_aug * coeff[:, None]).T @ h_aug / max(n, 1)
            blocks[a, :, b, :] = block
            if b != a:
                blocks[b, :, a, :] = block.T
    out = blocks.reshape(n_classes * width, n_classes * width)
    if weight_decay:
        out[np.diag_indices_from(out)] += weight_decay
    return out


def last_layer_hvp(features: np.ndarray, probs: np.ndarray, include_bias: bool = True,
                   weight_decay: float = 0.0, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> HVP:
    """Matrix-free `last_layer_hessian`: V (p, k) → H @ V in O(n·C·(D+1)·k), never forming H.

    Per sample, with Z_i = V_c h̃_i the logit perturbation (C,), the Hessian maps V to
    mean_i (p_i ⊙ Z_i − p_i (p_iᵀ Z_i)) h̃_iᵀ. This is what makes LiSSA feasible for
    wide heads (CIFAR-100, p = 100·513).
    """
    h_aug = _augment(features, include_bias)
    probs = _check_probs(probs, len(h_aug))
    n, width = h_aug.shape
    n_classes = probs.shape[1]

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
            mean_z = np.einsum("ic,ick->ik", p_c, z)
            az = p_c[:, :, None] * (z - mean_z[:, None, :])
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
    frozen = {name: tensor.detach() for name, tensor in named.items() if name not in param_names}
    frozen.update(dict(model.named_buffers()))
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
    grads = _check_grads(train_grads)
    n, p = grads.shape
    out = np.zeros((p, p))
    for start, chunk in _chunks(grads, chunk_rows):
        out += chunk.T @ chunk
    out /= max(n, 1)
    out[np.diag_indices_from(out)] += damping
    return out


# --------------------------------------------------------------------------- helpers


def _check_grads(train_grads: np.ndarray) -> np.ndarray:
    if not hasattr(train_grads, "shape") or len(train_grads.shape) != 2:
        raise DataError(f"train_grads must be an (n, p) array, got shape {getattr(train_grads, 'shape', None)}")
    return train_grads


def _check_val(val_grad: np.ndarray, p: int) -> np.ndarray:
    val = np.asarray(val_grad, dtype=np.float64)
    if val.shape != (p,):
        raise DataError(f"val_grad must have shape ({p},) to match train_grads (n, {p}), got {val.shape}")
    return val


def _chunks(grads: np.ndarray, chunk_rows: int):
    """Yields (start, float64 chunk) over the rows, so float32 / memmapped inputs are never copied whole."""
    for start in range(0, grads.shape[0], chunk_rows):
        yield start, np.asarray(grads[start:start + chunk_rows], dtype=np.float64)


def _rowwise_dot(grads: np.ndarray, vector: np.ndarray, chunk_rows: int) -> np.ndarray:
    """(n,) float64 G @ vector, chunked."""
    out = np.empty(grads.shape[0])
    for start, chunk in _chunks(grads, chunk_rows):
        out[start:start + len(chunk)] = chunk @ vector
    return out


def _check_nonneg(name: str, value: float) -> float:
    if not np.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _fill(info: dict | None, **values) -> None:
    if info is not None:
        info.update(values)


def _as_hvp(hessian_or_hvp, method: str) -> HVP:
    if hessian_or_hvp is None:
        raise ConfigError(f"influence method {method!r} needs a Hessian: pass hessian=(p, p) array or hvp=callable")
    if callable(hessian_or_hvp):
        return hessian_or_hvp
    matrix = np.asarray(hessian_or_hvp, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise DataError(f"hessian must be a square (p, p) array, got shape {matrix.shape}")
    return dense_hvp(matrix)


def _as_dense(hessian_or_hvp, p: int, method: str, max_dense_dim: int) -> np.ndarray:
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


@dataclass
class DampedEigen:
    """Eigendecomposition of a symmetric matrix with the damping that makes it safely positive definite."""

    eigenvalues: np.ndarray
    """(p,) eigenvalues of the undamped matrix."""
    eigenvectors: np.ndarray
    """(p, p) orthonormal columns."""
    damping: float
    """λ actually added: the requested damping, raised ×10 until the matrix is positive definite."""

    def solve(self, vectors: np.ndarray) -> np.ndarray:
        """(M + λI)⁻¹ vectors for (p,) or (p, k)."""
        coords = self.eigenvectors.T @ vectors
        shift = self.eigenvalues + self.damping
        return self.eigenvectors @ (coords / (shift if coords.ndim == 1 else shift[:, None]))


def damped_eigh(matrix: np.ndarray, damping: float = 0.0, min_eig_ratio: float = 1e-8) -> DampedEigen:
    """Decompose a symmetric (p, p) matrix; raise λ from `damping` ×10 until λ_min + λ > min_eig_ratio·|λ|_max.

    A Hessian of a non-convex model (or the softmax head without weight decay, whose
    Hessian is singular along "add the same vector to every class row") is not
    invertible; the damped inverse (H + λI)⁻¹ is the standard fix. The threshold keeps
    the condition number ≤ 1/min_eig_ratio so round-off is not amplified.
    """
    damping = _check_nonneg("damping", damping)
    matrix = np.asarray(matrix, dtype=np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    top = float(np.max(np.abs(eigenvalues))) if eigenvalues.size else 0.0
    floor = min_eig_ratio * max(top, np.finfo(float).tiny)
    used = damping
    bottom = float(eigenvalues.min()) if eigenvalues.size else 1.0
    while bottom + used <= floor:
        used = floor if used == 0 else used * 10.0
    if used != damping:
        log.info("damping raised from %g to %g to make the matrix positive definite (λ_min = %g)",
                 damping, used, bottom)
    return DampedEigen(eigenvalues=eigenvalues, eigenvectors=eigenvectors, damping=used)


def _top_eigenvalue(hvp: HVP, p: int, iterations: int = 50, seed: int = 0) -> float:
    """Largest |eigenvalue| of H by power iteration on the hvp."""
    vector = np.random.default_rng(seed).standard_normal((p, 1))
    vector /= np.linalg.norm(vector)
    value = 0.0
    for _ in range(iterations):
        image = hvp(vector)
        value = float(np.linalg.norm(image))
        if value == 0.0:
            return 0.0
        vector = image / value
    return value


def lissa_solve(hvp: HVP, vectors: np.ndarray, *, iterations: int = 1000, scale: float | None = None,
                damping: float = 0.01, tol: float = 1e-8, seed: int = 0, info: dict | None = None) -> np.ndarray:
    """Koh & Liang's LiSSA: ≈ (H + damping·scale·I)⁻¹ vectors, for (p,) or (p, k) right-hand sides.

    Iterates r₀ = v, r ← v + (1 − damping)·r − H r / scale and returns r / scale. The
    fixed point is r/scale = (H + damping·scale·I)⁻¹ v; it is reached when every
    eigenvalue of (1 − damping)I − H/scale lies in (−1, 1), i.e. H + damping·scale·I ≻ 0
    and scale > λ_max(H)/(2 − damping). `scale=None` takes 1.1 × the largest |eigenvalue|
    found by 50 power iterations. The error shrinks by max|1 − damping − λ/scale| per step;
    iterations stop early once the update is below `tol`·‖r‖. Uses the full-data hvp
    (no minibatch sampling, no repeats), so it is deterministic.

    (DataInf's LiSSA iterates r ← v + r − α(G r/n − λ r), whose fixed point is
    (GᵀG/n − λI)⁻¹v: a sign error on the damping. This is the original recursion.)
    """
    damping = _check_nonneg("lissa damping", damping)
    if iterations < 1:
        raise ConfigError(f"lissa iterations must be >= 1, got {iterations}")
    rhs = np.asarray(vectors, dtype=np.float64)
    squeeze = rhs.ndim == 1
    rhs = rhs.reshape(rhs.shape[0], -1)
    p = rhs.shape[0]
    if scale is None:
        top = _top_eigenvalue(hvp, p, seed=seed)
        scale = 1.1 * top if top > 0 else 1.0
    if not np.isfinite(scale) or scale <= 0:
        raise ConfigError(f"lissa scale must be > 0, got {scale!r}")
    estimate = rhs.copy()
    converged = False
    run = 0
    for run in range(1, iterations + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            update = rhs + (1.0 - damping) * estimate - hvp(estimate) / scale
            change = np.linalg.norm(update - estimate)
            estimate = update
            size = np.linalg.norm(estimate)
        if not np.isfinite(size):
            raise ConfigError(f"LiSSA diverged after {run} iterations (scale={scale:g}, damping={damping:g}): "
                              "the Hessian has eigenvalues below −damping·scale or above 2·scale; "
                              "raise damping or scale")
        if change <= tol * size:
            converged = True
            break
    if not converged:
        log.warning("LiSSA stopped after %d iterations without reaching tol=%g; raise iterations or damping",
                    run, tol)
    _fill(info, scale=float(scale), damping=damping, effective_damping=damping * float(scale),
          iterations_run=run, converged=converged)
    result = estimate / scale
    return result[:, 0] if squeeze else result


# --------------------------------------------------------------------------- DataInf


def _blocks(p: int, block_sizes: Mapping[str, int] | None) -> dict[str, slice]:
    if block_sizes is None:
        return {"all": slice(0, p)}
    out, start = {}, 0
    for name, size in block_sizes.items():
        if int(size) <= 0:
            raise ConfigError(f"datainf block {name!r} must have a positive size, got {size}")
        out[name] = slice(start, start + int(size))
        start += int(size)
    if start != p:
        raise ConfigError(f"datainf block_sizes sum to {start}, but the gradients have p = {p} columns")
    return out


def _block_sq_norms(grads: np.ndarray, blocks: dict[str, slice], chunk_rows: int) -> dict[str, np.ndarray]:
    out = {name: np.empty(grads.shape[0]) for name in blocks}
    for start, chunk in _chunks(grads, chunk_rows):
        for name, cols in blocks.items():
            out[name][start:start + len(chunk)] = (chunk[:, cols] ** 2).sum(axis=1)
    return out


def _datainf_lambdas(sq_norms: dict[str, np.ndarray], blocks: dict[str, slice],
                     lambda_factor: float) -> dict[str, float]:
    """λ_l = lambda_factor · mean_i ‖g_il‖² / d_l (DataInf's default factor 0.1)."""
    lambdas = {}
    for name, cols in blocks.items():
        width = cols.stop - cols.start
        value = lambda_factor * float(sq_norms[name].mean()) / width
        lambdas[name] = value if value > 0 else np.finfo(float).tiny
    return lambdas


# --------------------------------------------------------------------------- methods


def exact_influence(train_grads, val_grad, hessian_or_hvp, *, damping: float = 0.0, min_eig_ratio: float = 1e-8,
                    max_dense_dim: int = 20_000, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    info: dict | None = None) -> np.ndarray:
    """harm_j = −vᵀ (H + λI)⁻¹ g_j with the true Hessian.

    λ starts at `damping` and is raised by `damped_eigh` until H + λI is safely positive
    definite; the value used is reported in info['damping']. Dense: O(p³ + np).
    """
    grads = _check_grads(train_grads)
    val = _check_val(val_grad, grads.shape[1])
    decomposition = damped_eigh(_as_dense(hessian_or_hvp, grads.shape[1], "exact", max_dense_dim), damping,
                                min_eig_ratio)
    _fill(info, hessian="true", damping=decomposition.damping)
    return -_rowwise_dot(grads, decomposition.solve(val), chunk_rows)


def _fisher_decomposition(grads, damping, min_eig_ratio, chunk_rows) -> DampedEigen:
    fisher = empirical_fisher(grads, 0.0, chunk_rows)
    if damping is None:
        damping = 0.1 * float(np.trace(fisher)) / max(fisher.shape[0], 1)
    return damped_eigh(fisher, damping, min_eig_ratio)


def fisher_influence(train_grads, val_grad, hessian_or_hvp=None, *, damping: float | None = None,
                     min_eig_ratio: float = 1e-8, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                     info: dict | None = None) -> np.ndarray:
    """harm_j = −vᵀ (GᵀG/n + λI)⁻¹ g_j: the empirical Fisher instead of the Hessian (ignores hessian_or_hvp).

    damping None = 0.1 · trace(GᵀG/n)/p, DataInf's rule for λ; reported in info['damping'].
    """
    grads = _check_grads(train_grads)
    val = _check_val(val_grad, grads.shape[1])
    decomposition = _fisher_decomposition(grads, damping, min_eig_ratio, chunk_rows)
    _fill(info, hessian="empirical_fisher", damping=decomposition.damping)
    return -_rowwise_dot(grads, decomposition.solve(val), chunk_rows)


def lissa_influence(train_grads, val_grad, hessian_or_hvp, *, iterations: int = 1000, scale: float | None = None,
                    damping: float = 0.01, tol: float = 1e-8, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    info: dict | None = None) -> np.ndarray:
    """harm_j = −g_jᵀ s with s = LiSSA ≈ (H + damping·scale·I)⁻¹ v (one solve; see `lissa_solve`)."""
    grads = _check_grads(train_grads)
    val = _check_val(val_grad, grads.shape[1])
    solved = lissa_solve(_as_hvp(hessian_or_hvp, "lissa"), val, iterations=iterations, scale=scale,
                         damping=damping, tol=tol, seed=seed, info=info)
    return -_rowwise_dot(grads, solved, chunk_rows)


def datainf_influence(train_grads, val_grad, hessian_or_hvp=None, *, block_sizes: Mapping[str, int] | None = None,
                      lambda_factor: float = 0.1, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      info: dict | None = None) -> np.ndarray:
    """DataInf (Kwon et al. 2024): harm_i = −Σ_l h_l·g_il, no Hessian (ignores hessian_or_hvp).

    Per block l (`block_sizes`: ordered name → column count, summing to p; default one
    block), λ_l = lambda_factor·mean_i‖g_il‖²/d_l and
    h_l = (1/(nλ_l)) Σ_i [v_l − (v_l·g_il)/(λ_l + ‖g_il‖²) g_il]
    — the average over i of the Sherman–Morrison inverse (g_il g_ilᵀ + λ_l I)⁻¹ applied to
    v_l, standing in for H_l⁻¹ v_l. Computed as (n v_l − Σ_i c_i g_il)/(nλ_l): O(np).
    """
    grads = _check_grads(train_grads)
    n, p = grads.shape
    val = _check_val(val_grad, p)
    blocks = _blocks(p, block_sizes)
    sq_norms = _block_sq_norms(grads, blocks, chunk_rows)
    lambdas = _datainf_lambdas(sq_norms, blocks, lambda_factor)
    weighted_sum = np.zeros(p)
    for start, chunk in _chunks(grads, chunk_rows):
        rows = slice(start, start + len(chunk))
        for name, cols in blocks.items():
            coeff = (chunk[:, cols] @ val[cols]) / (lambdas[name] + sq_norms[name][rows])
            weighted_sum[cols] += coeff @ chunk[:, cols]
    solved = np.empty(p)
    for name, cols in blocks.items():
        solved[cols] = (n * val[cols] - weighted_sum[cols]) / (n * lambdas[name])
    _fill(info, hessian="datainf", lambdas=lambdas)
    return -_rowwise_dot(grads, solved, chunk_rows)


def tracing_influence(train_grads, val_grad, hessian_or_hvp=None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      info: dict | None = None) -> np.ndarray:
    """Gradient tracing / TracIn at one checkpoint (Pruthi et al. 2020): harm_j = −v·g_j (H = I)."""
    grads = _check_grads(train_grads)
    val = _check_val(val_grad, grads.shape[1])
    _fill(info, hessian="identity")
    return -_rowwise_dot(grads, val, chunk_rows)


def self_exact_influence(train_grads, val_grad=None, hessian_or_hvp=None, *, damping: float = 0.0,
                         min_eig_ratio: float = 1e-8, max_dense_dim: int = 20_000,
                         chunk_rows: int = DEFAULT_CHUNK_ROWS, info: dict | None = None) -> np.ndarray:
    """Self-influence g_jᵀ (H + λI)⁻¹ g_j with the true Hessian (val_grad unused). O(p³ + np²)."""
    grads = _check_grads(train_grads)
    decomposition = damped_eigh(_as_dense(hessian_or_hvp, grads.shape[1], "self_exact", max_dense_dim), damping,
                                min_eig_ratio)
    weights = 1.0 / (decomposition.eigenvalues + decomposition.damping)
    out = np.empty(grads.shape[0])
    for start, chunk in _chunks(grads, chunk_rows):
        coords = chunk @ decomposition.eigenvectors
        out[start:start + len(chunk)] = (coords**2) @ weights
    _fill(info, hessian="true", damping=decomposition.damping)
    return out


def self_lissa_influence(train_grads, val_grad=None, hessian_or_hvp=None, *, iterations: int = 1000,
                         scale: float | None = None, damping: float = 0.01, tol: float = 1e-8, seed: int = 0,
                         batch_size: int = 256, info: dict | None = None) -> np.ndarray:
    """Self-influence g_jᵀ s_j, s_j = LiSSA ≈ (H + damping·scale·I)⁻¹ g_j (Bejan et al. 2023; val_grad unused).

    One LiSSA solve per sample, run `batch_size` right-hand sides at a time through the
    hvp: O(n · iterations · cost(hvp)). scale is estimated once and shared by all batches.
    """
    grads = _check_grads(train_grads)
    hvp = _as_hvp(hessian_or_hvp, "self_lissa")
    p = grads.shape[1]
    if scale is None:
        top = _top_eigenvalue(hvp, p, seed=seed)
        scale = 1.1 * top if top > 0 else 1.0
    out = np.empty(grads.shape[0])
    runs, all_converged = [], True
    for start, chunk in _chunks(grads, batch_size):
        batch_info: dict = {}
        solved = lissa_solve(hvp, chunk.T, iterations=iterations, scale=scale, damping=damping, tol=tol,
                             info=batch_info)
        out[start:start + len(chunk)] = np.einsum("pk,kp->k", solved, chunk)
        runs.append(batch_info["iterations_run"])
        all_converged &= batch_info["converged"]
    _fill(info, scale=float(scale), damping=damping, effective_damping=damping * float(scale),
          iterations_run=max(runs, default=0), converged=all_converged)
    return out


def self_datainf_influence(train_grads, val_grad=None, hessian_or_hvp=None, *,
                           block_sizes: Mapping[str, int] | None = None, lambda_factor: float = 0.1,
                           chunk_rows: int = 1024, info: dict | None = None) -> np.ndarray:
    """Self-influence under DataInf's inverse: Σ_l g_ilᵀ Ĥ_l⁻¹ g_il (val_grad unused).

    With DataInf's Ĥ_l⁻¹ = (1/(nλ_l)) Σ_k (I − g_kl g_klᵀ/(λ_l + ‖g_kl‖²)),

        self_i = Σ_l [ ‖g_il‖²/λ_l − (1/(nλ_l)) Σ_k (g_kl·g_il)²/(λ_l + ‖g_kl‖²) ].

    It varies with the sample through its norm and its alignment with the other
    samples' gradients (the reference implementation's version collapses to one constant
    for every sample). The inner sum is g_ilᵀ M_l g_il with M_l = Σ_k g_kl g_klᵀ/(λ_l+‖g_kl‖²):
    built explicitly (O(n d_l²)) when d_l ≤ n, otherwise via row tiles of the Gram matrix
    (O(n² d_l), memory chunk_rows²; no n×n matrix). So this is O(n·d·min(n, d)), not the
    O(np) of the paper's Table 6 (≈ 2 min on CPU for n = 50,000, p = 5,130): project wide
    gradients first. Keeping only the sample's own term k = i would give
    g(ggᵀ + λI)⁻¹g = ‖g‖²/(λ + ‖g‖²), a monotone function of the gradient norm — the L2
    detector's ranking, not a separate baseline — so it is not offered.
    """
    grads = _check_grads(train_grads)
    n, p = grads.shape
    blocks = _blocks(p, block_sizes)
    sq_norms = _block_sq_norms(grads, blocks, chunk_rows)
    lambdas = _datainf_lambdas(sq_norms, blocks, lambda_factor)
    out = np.zeros(n)
    for name, cols in blocks.items():
        lam = lambdas[name]
        weights = 1.0 / (lam + sq_norms[name])
        width = cols.stop - cols.start
        if width <= n:
            second = np.zeros((width, width))
            for start, chunk in _chunks(grads, chunk_rows):
                block = chunk[:, cols]
                second += block.T @ (block * weights[start:start + len(block), None])
            quad = np.empty(n)
            for start, chunk in _chunks(grads, chunk_rows):
                block = chunk[:, cols]
                quad[start:start + len(block)] = ((block @ second) * block).sum(axis=1)
        else:
            quad = np.zeros(n)
            for start, chunk in _chunks(grads, chunk_rows):
                block = chunk[:, cols]
                for other_start, other in _chunks(grads, chunk_rows):
                    gram = block @ other[:, cols].T
                    quad[start:start + len(block)] += (gram**2) @ weights[other_start:other_start + len(other)]
        out += sq_norms[name] / lam - quad / (n * lam)
    _fill(info, hessian="datainf", lambdas=lambdas)
    return out


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class InfluenceMethod:
    """A registered influence baseline: fn(train_grads, val_grad, hessian_or_hvp, **opts) -> (n,) harm."""

    fn: Callable[..., np.ndarray]
    help: str
    needs_hessian: bool
    needs_val_grad: bool


INFLUENCE_METHODS: dict[str, InfluenceMethod] = {}


def register_influence(name: str, help: str, needs_hessian: bool, needs_val_grad: bool = True):
    def wrap(fn: Callable[..., np.ndarray]):
        INFLUENCE_METHODS[name] = InfluenceMethod(fn=fn, help=help, needs_hessian=needs_hessian,
                                                  needs_val_grad=needs_val_grad)
        return fn

    return wrap


register_influence("exact", "−vᵀ(H+λI)⁻¹g with the true Hessian (small p)", True)(exact_influence)
register_influence("fisher", "−vᵀ(GᵀG/n+λI)⁻¹g: empirical Fisher, the reference code's 'exact'", False)(
    fisher_influence)
register_influence("lissa", "Koh & Liang LiSSA approximation of −vᵀH⁻¹g", True)(lissa_influence)
register_influence("datainf", "DataInf closed-form inverse (Kwon et al. 2024)", False)(datainf_influence)
register_influence("tracing", "gradient tracing / TracIn, one checkpoint: −v·g", False)(tracing_influence)
register_influence("self_exact", "self-influence gᵀ(H+λI)⁻¹g, true Hessian", True, False)(self_exact_influence)
register_influence("self_lissa", "self-influence gᵀH⁻¹g via LiSSA (Bejan et al. 2023)", True, False)(
    self_lissa_influence)
register_influence("self_datainf", "self-influence gᵀĤ⁻¹g under DataInf's inverse", False, False)(
    self_datainf_influence)


def influence_scores(method: str, train_grads: np.ndarray, val_grad: np.ndarray | None = None,
                     hessian: np.ndarray | None = None, hvp: HVP | None = None, **opts) -> np.ndarray:
    """(n,) float64 harm scores of a registered method, higher = more harmful (see the module docstring).

    train_grads (n, p) per-sample training gradients; val_grad (p,) the mean validation
    gradient (unused by self_* methods); give the Hessian as `hessian` (p, p) or `hvp`
    (callable (p, k) → (p, k)), not both; methods that do not need one ignore it.
    `opts` go to the method (damping, iterations, scale, block_sizes, info, ...).
    """
    if method not in INFLUENCE_METHODS:
        raise ConfigError(f"unknown influence method {method!r}; valid methods: {', '.join(INFLUENCE_METHODS)}")
    if hessian is not None and hvp is not None:
        raise ConfigError("pass either hessian= or hvp=, not both")
    spec = INFLUENCE_METHODS[method]
    if spec.needs_val_grad and val_grad is None:
        raise ConfigError(f"influence method {method!r} needs val_grad (the mean validation gradient)")
    hessian_or_hvp = hvp if hvp is not None else hessian
    if spec.needs_hessian and hessian_or_hvp is None:
        raise ConfigError(f"influence method {method!r} needs a Hessian: pass hessian=(p, p) or hvp=callable")
    accepted = [name for name, param in inspect.signature(spec.fn).parameters.items()
                if param.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise ConfigError(f"influence method {method!r} does not take {unknown}; its options: {', '.join(accepted)}")
    return spec.fn(train_grads, val_grad, hessian_or_hvp, **opts)
