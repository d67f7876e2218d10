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
checked against leave-one-out retraining of a convex model in tests/influence/test_methods.py.

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
from collections.abc import Mapping

import numpy as np

from core.errors import ConfigError
from core.influence.common import (
    DEFAULT_CHUNK_ROWS,
    check_grads,
    check_val,
    chunks,
    fill_info,
    rowwise_dot,
)
from core.influence.hessians import HVP, as_dense, as_hvp, empirical_fisher
from core.influence.registry import INFLUENCE_METHODS
from core.influence.solvers import (
    DampedEigen,
    block_sq_norms,
    damped_eigh,
    datainf_blocks,
    datainf_lambdas,
    datainf_solve,
    lissa_solve,
    top_eigenvalue,
)


def exact_influence(train_grads, val_grad, hessian_or_hvp, *, damping: float = 0.0, min_eig_ratio: float = 1e-8,
                    max_dense_dim: int = 20_000, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    info: dict | None = None, decomposition: DampedEigen | None = None) -> np.ndarray:
    """harm_j = −vᵀ (H + λI)⁻¹ g_j with the true Hessian.

    λ starts at `damping` and is raised by `damped_eigh` until H + λI is safely positive
    definite; the value used is reported in info['damping']. Dense: O(p³ + np).
    `decomposition`: `damped_eigh(H, damping, min_eig_ratio)` when the caller has it already
    (exact and self_exact share one).
    """
    grads = check_grads(train_grads)
    val = check_val(val_grad, grads.shape[1])
    decomposition = decomposition or damped_eigh(as_dense(hessian_or_hvp, grads.shape[1], "exact", max_dense_dim),
                                                 damping, min_eig_ratio)
    fill_info(info, hessian="true", damping=decomposition.damping)
    return -rowwise_dot(grads, decomposition.solve(val), chunk_rows)


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
    grads = check_grads(train_grads)
    val = check_val(val_grad, grads.shape[1])
    decomposition = _fisher_decomposition(grads, damping, min_eig_ratio, chunk_rows)
    fill_info(info, hessian="empirical_fisher", damping=decomposition.damping)
    return -rowwise_dot(grads, decomposition.solve(val), chunk_rows)


def lissa_influence(train_grads, val_grad, hessian_or_hvp, *, iterations: int = 1000, scale: float | None = None,
                    damping: float = 0.01, tol: float = 1e-8, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    info: dict | None = None) -> np.ndarray:
    """harm_j = −g_jᵀ s with s = LiSSA ≈ (H + damping·scale·I)⁻¹ v (one solve; see `lissa_solve`)."""
    grads = check_grads(train_grads)
    val = check_val(val_grad, grads.shape[1])
    solved = lissa_solve(as_hvp(hessian_or_hvp, "lissa"), val, iterations=iterations, scale=scale,
                         damping=damping, tol=tol, seed=seed, info=info)
    return -rowwise_dot(grads, solved, chunk_rows)


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
    grads = check_grads(train_grads)
    val = check_val(val_grad, grads.shape[1])
    solved, lambdas = datainf_solve(grads, val, block_sizes, lambda_factor, chunk_rows)
    fill_info(info, hessian="datainf", lambdas=lambdas)
    return -rowwise_dot(grads, solved, chunk_rows)


def tracing_influence(train_grads, val_grad, hessian_or_hvp=None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      info: dict | None = None) -> np.ndarray:
    """Gradient tracing / TracIn at one checkpoint (Pruthi et al. 2020): harm_j = −v·g_j (H = I)."""
    grads = check_grads(train_grads)
    val = check_val(val_grad, grads.shape[1])
    fill_info(info, hessian="identity")
    return -rowwise_dot(grads, val, chunk_rows)


def self_exact_influence(train_grads, val_grad=None, hessian_or_hvp=None, *, damping: float = 0.0,
                         min_eig_ratio: float = 1e-8, max_dense_dim: int = 20_000,
                         chunk_rows: int = DEFAULT_CHUNK_ROWS, info: dict | None = None,
                         decomposition: DampedEigen | None = None) -> np.ndarray:
    """Self-influence g_jᵀ (H + λI)⁻¹ g_j with the true Hessian (val_grad unused). O(p³ + np²).
    `decomposition`: as in `exact_influence`."""
    grads = check_grads(train_grads)
    decomposition = decomposition or damped_eigh(
        as_dense(hessian_or_hvp, grads.shape[1], "self_exact", max_dense_dim), damping, min_eig_ratio)
    weights = 1.0 / (decomposition.eigenvalues + decomposition.damping)
    out = np.empty(grads.shape[0])
    for start, chunk in chunks(grads, chunk_rows):
        coords = chunk @ decomposition.eigenvectors
        out[start:start + len(chunk)] = (coords**2) @ weights
    fill_info(info, hessian="true", damping=decomposition.damping)
    return out


def self_lissa_influence(train_grads, val_grad=None, hessian_or_hvp=None, *, iterations: int = 1000,
                         scale: float | None = None, damping: float = 0.01, tol: float = 1e-8, seed: int = 0,
                         batch_size: int = 256, info: dict | None = None) -> np.ndarray:
    """Self-influence g_jᵀ s_j, s_j = LiSSA ≈ (H + damping·scale·I)⁻¹ g_j (Bejan et al. 2023; val_grad unused).

    One LiSSA solve per sample, run `batch_size` right-hand sides at a time through the
    hvp: O(n · iterations · cost(hvp)). scale is estimated once and shared by all batches.
    """
    grads = check_grads(train_grads)
    hvp = as_hvp(hessian_or_hvp, "self_lissa")
    p = grads.shape[1]
    if scale is None:
        top = top_eigenvalue(hvp, p, seed=seed)
        scale = 1.1 * top if top > 0 else 1.0
    out = np.empty(grads.shape[0])
    runs, all_converged = [], True
    for start, chunk in chunks(grads, batch_size):
        batch_info: dict = {}
        solved = lissa_solve(hvp, chunk.T, iterations=iterations, scale=scale, damping=damping, tol=tol,
                             info=batch_info)
        out[start:start + len(chunk)] = np.einsum("pk,kp->k", solved, chunk)
        runs.append(batch_info["iterations_run"])
        all_converged &= batch_info["converged"]
    fill_info(info, scale=float(scale), damping=damping, effective_damping=damping * float(scale),
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
    grads = check_grads(train_grads)
    n, p = grads.shape
    blocks = datainf_blocks(p, block_sizes)
    sq_norms = block_sq_norms(grads, blocks, chunk_rows)
    lambdas = datainf_lambdas(sq_norms, blocks, lambda_factor)
    out = np.zeros(n)
    for name, cols in blocks.items():
        lam = lambdas[name]
        weights = 1.0 / (lam + sq_norms[name])
        width = cols.stop - cols.start
        if width <= n:
            second = np.zeros((width, width))
            for start, chunk in chunks(grads, chunk_rows):
                block = chunk[:, cols]
                second += block.T @ (block * weights[start:start + len(block), None])
            quad = np.empty(n)
            for start, chunk in chunks(grads, chunk_rows):
                block = chunk[:, cols]
                quad[start:start + len(block)] = ((block @ second) * block).sum(axis=1)
        else:
            quad = np.zeros(n)
            for start, chunk in chunks(grads, chunk_rows):
                block = chunk[:, cols]
                for other_start, other in chunks(grads, chunk_rows):
                    gram = block @ other[:, cols].T
                    quad[start:start + len(block)] += (gram**2) @ weights[other_start:other_start + len(other)]
        out += sq_norms[name] / lam - quad / (n * lam)
    fill_info(info, hessian="datainf", lambdas=lambdas)
    return out


def influence_scores(method: str, train_grads: np.ndarray, val_grad: np.ndarray | None = None,
                     hessian: np.ndarray | None = None, hvp: HVP | None = None, **opts) -> np.ndarray:
    """(n,) float64 harm scores of a registered method, higher = more harmful (see the module docstring).

    train_grads (n, p) per-sample training gradients; val_grad (p,) the mean validation
    gradient (unused by self_* methods); give the Hessian as `hessian` (p, p) or `hvp`
    (callable (p, k) → (p, k)), not both; methods that do not need one ignore it.
    `opts` go to the method (damping, iterations, scale, block_sizes, info, ...).
    """
    entry = INFLUENCE_METHODS.entry(method)
    if hessian is not None and hvp is not None:
        raise ConfigError("pass either hessian= or hvp=, not both")
    if entry.meta["needs_val_grad"] and val_grad is None:
        raise ConfigError(f"influence method {method!r} needs val_grad (the mean validation gradient)")
    hessian_or_hvp = hvp if hvp is not None else hessian
    if entry.meta["needs_hessian"] and hessian_or_hvp is None:
        raise ConfigError(f"influence method {method!r} needs a Hessian: pass hessian=(p, p) or hvp=callable")
    fn = entry.load()
    accepted = [name for name, param in inspect.signature(fn).parameters.items()
                if param.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise ConfigError(f"influence method {method!r} does not take {unknown}; its options: {', '.join(accepted)}")
    return fn(train_grads, val_grad, hessian_or_hvp, **opts)
