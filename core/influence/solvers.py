"""Solving against a damped Hessian: eigendecomposition, LiSSA, and DataInf's closed-form inverse.

- `damped_eigh`: (M + λI)⁻¹ through an eigendecomposition, λ raised until M + λI is
  safely positive definite (exact, fisher, self_exact).
- `lissa_solve`: Koh & Liang's LiSSA recursion on an hvp (lissa, self_lissa).
- `datainf_solve`: DataInf's Ĥ_l⁻¹ v per parameter block (datainf, self_datainf, and
  DataInf attribution), the one implementation of Kwon et al. 2024's inverse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from core.influence.common import check_nonneg, chunks, fill_info
from core.influence.hessians import HVP

log = logging.getLogger(__name__)


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
    damping = check_nonneg("damping", damping)
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


def top_eigenvalue(hvp: HVP, p: int, iterations: int = 50, seed: int = 0) -> float:
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


LISSA_RESIDUAL_TOL = 1e-3
"""LiSSA counts as converged when ‖(H + λI)x − v‖ ≤ this × ‖v‖ for its answer x: the solve's own error,
not the size of the last update (which is small long before the answer is right on an ill-conditioned H)."""


def lissa_solve(hvp: HVP, vectors: np.ndarray, *, iterations: int = 1000, scale: float | None = None,
                damping: float = 0.01, tol: float = 1e-8, seed: int = 0, info: dict | None = None) -> np.ndarray:
    """Koh & Liang's LiSSA: ≈ (H + damping·scale·I)⁻¹ vectors, for (p,) or (p, k) right-hand sides.

    Iterates r₀ = v, r ← v + (1 − damping)·r − H r / scale and returns r / scale. The
    fixed point is r/scale = (H + damping·scale·I)⁻¹ v; it is reached when every
    eigenvalue of (1 − damping)I − H/scale lies in (−1, 1), i.e. H + damping·scale·I ≻ 0
    and scale > λ_max(H)/(2 − damping). `scale=None` takes 1.1 × the largest |eigenvalue|
    found by 50 power iterations. The error shrinks by max|1 − damping − λ/scale| per step;
    iterations stop early once the update is below `tol`·‖r‖. Convergence is judged by the
    relative residual of the answer (`LISSA_RESIDUAL_TOL`), reported in info['residual'].
    Uses the full-data hvp (no minibatch sampling, no repeats), so it is deterministic.

    (DataInf's LiSSA iterates r ← v + r − α(G r/n − λ r), whose fixed point is
    (GᵀG/n − λI)⁻¹v: a sign error on the damping. This is the original recursion.)
    """
    damping = check_nonneg("lissa damping", damping)
    if iterations < 1:
        raise ConfigError(f"lissa iterations must be >= 1, got {iterations}")
    rhs = np.asarray(vectors, dtype=np.float64)
    squeeze = rhs.ndim == 1
    rhs = rhs.reshape(rhs.shape[0], -1)
    p = rhs.shape[0]
    if scale is None:
        top = top_eigenvalue(hvp, p, seed=seed)
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
            break
    result = estimate / scale
    residual = float(np.linalg.norm(hvp(result) + damping * scale * result - rhs) / max(np.linalg.norm(rhs), 1e-300))
    converged = residual <= LISSA_RESIDUAL_TOL
    if not converged:
        log.warning("LiSSA's answer after %d iterations has relative residual %.2g > %g; raise iterations or "
                    "damping", run, residual, LISSA_RESIDUAL_TOL)
    fill_info(info, scale=float(scale), damping=damping, effective_damping=damping * float(scale),
              iterations_run=run, converged=converged, residual=residual)
    return result[:, 0] if squeeze else result


def datainf_blocks(p: int, block_sizes: Mapping[str, int] | None) -> dict[str, slice]:
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


def block_sq_norms(grads: np.ndarray, blocks: dict[str, slice], chunk_rows: int) -> dict[str, np.ndarray]:
    out = {name: np.empty(grads.shape[0]) for name in blocks}
    for start, chunk in chunks(grads, chunk_rows):
        for name, cols in blocks.items():
            out[name][start:start + len(chunk)] = (chunk[:, cols] ** 2).sum(axis=1)
    return out


def datainf_lambdas(sq_norms: dict[str, np.ndarray], blocks: dict[str, slice],
                     lambda_factor: float) -> dict[str, float]:
    """λ_l = lambda_factor · mean_i ‖g_il‖² / d_l (DataInf's default factor 0.1)."""
    lambdas = {}
    for name, cols in blocks.items():
        width = cols.stop - cols.start
        value = lambda_factor * float(sq_norms[name].mean()) / width
        lambdas[name] = value if value > 0 else np.finfo(float).tiny
    return lambdas


def datainf_solve(grads: np.ndarray, vectors: np.ndarray, block_sizes: Mapping[str, int] | None = None,
                  lambda_factor: float = 0.1, chunk_rows: int = 4096) -> tuple[np.ndarray, dict[str, float]]:
    """DataInf's Ĥ⁻¹v for one (p,) or several (p, k) right-hand sides; returns (solved, λ per block).

    Per block l (`block_sizes`: ordered name → column count, summing to p; default one
    block), λ_l = lambda_factor·mean_i‖g_il‖²/d_l and
    Ĥ_l⁻¹v_l = (1/(nλ_l)) Σ_i [v_l − (v_l·g_il)/(λ_l + ‖g_il‖²) g_il] — the average over i
    of the Sherman–Morrison inverse (g_il g_ilᵀ + λ_l I)⁻¹ standing in for H_l⁻¹ v_l.
    Computed as (n v_l − Σ_i c_i g_il)/(nλ_l): O(n·p·k). A block whose gradients are all
    zero carries no influence: its part of the result is 0.
    """
    n, p = grads.shape
    rhs = np.asarray(vectors, dtype=np.float64)
    squeeze = rhs.ndim == 1
    rhs = rhs.reshape(p, -1)
    blocks = datainf_blocks(p, block_sizes)
    sq_norms = block_sq_norms(grads, blocks, chunk_rows)
    lambdas = datainf_lambdas(sq_norms, blocks, lambda_factor)
    weighted_sum = np.zeros_like(rhs)
    for start, chunk in chunks(grads, chunk_rows):
        rows = slice(start, start + len(chunk))
        for name, cols in blocks.items():
            coeff = (chunk[:, cols] @ rhs[cols]) / (lambdas[name] + sq_norms[name][rows])[:, None]
            weighted_sum[cols] += chunk[:, cols].T @ coeff
    solved = np.zeros_like(rhs)
    for name, cols in blocks.items():
        if sq_norms[name].any():
            solved[cols] = (n * rhs[cols] - weighted_sum[cols]) / (n * lambdas[name])
    return (solved[:, 0] if squeeze else solved), lambdas
