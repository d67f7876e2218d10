"""The linear-probe refit: a fresh softmax head on a model's frozen, cached features.

Probe retraining (core.pipeline.retrain, mode "probe") refits only this head on the kept
samples' stored features: seconds instead of a full retraining.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from core.models.seeding import seed_everything
from core.tasks.base import Task
from core.tasks.classification import Classification


def train_linear_probe(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    weight_decay: float,
    seed: int,
    max_iter: int = 200,
    task: Task | None = None,
) -> nn.Linear:
    """Fit a fresh head on frozen features with full-batch L-BFGS (softmax, or the `task`'s loss: core.tasks).

    Used for fast retraining: the backbone stays as trained, only the last layer is
    refit on the kept samples. Minimizes mean cross-entropy + reg/2·‖W‖² (reg =
    max(weight_decay, 1e-6), bias unpenalized; `select_probe_reg` chooses it for a run). Convex, so the
    result does not depend on the seed beyond the initialization; seeded anyway.

    Solved in an equivalent, better-conditioned parametrization: each feature column
    centred and scaled, z = (h − μ)/σ, logits = V z + c, with W = V/σ and b = c − W μ,
    and the penalty kept on W (reg/2·Σ V²/σ²) — the same problem, whose optimum L-BFGS
    reaches in 1.3–2.6× fewer iterations on ReLU features (all positive, so uncentred
    they make the problem ill-conditioned), to an objective at least as low. Loss and
    gradient, rᵀ z / n with r the task's residual (softmax − one-hot by default), are computed by
    hand, without autograd (figures in docs/benchmarks.md).
    """
    seed_everything(seed)
    with one_thread_when_small(len(features) * int(np.prod(np.shape(features)[1:])) * n_classes):
        return _fit_probe(features, labels, n_classes, weight_decay, max_iter, task or Classification())


SMALL_PROBE_WORK = 20_000_000
"""A probe fit whose passes cost fewer multiply-adds (n · D · C) than this runs on one thread: its
matrices are too small for a second thread to pay, and on a shared, oversubscribed CPU every
OpenMP region of a multi-threaded fit can stall (measured on a 2-core machine at load 8: choosing
the L2 strength of a 720 x 384 x 8 probe took 18 s on 2 threads, 0.4 s on one)."""


@contextlib.contextmanager
def one_thread_when_small(work: int):
    """torch on one thread inside the block when `work` < SMALL_PROBE_WORK (restored after)."""
    previous = torch.get_num_threads()
    if work >= SMALL_PROBE_WORK or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit_probe(features: np.ndarray, labels: np.ndarray, n_classes: int, weight_decay: float,
               max_iter: int, task: Task) -> nn.Linear:
    h = torch.as_tensor(features, dtype=torch.float32)
    target = task.targets(labels)
    head = nn.Linear(h.shape[1], n_classes)
    reg = max(weight_decay, 1e-6)
    n_rows = max(len(h), 1)
    mean = h.mean(dim=0) if len(h) else torch.zeros(h.shape[1])
    scale = h.std(dim=0) if len(h) > 1 else torch.ones(h.shape[1])
    scale = torch.where(scale > 1e-6, scale, torch.ones_like(scale))  # any σ > 0 gives the same optimum
    z = (h - mean) / scale
    penalty = scale.pow(-2)
    with torch.no_grad():
        weight = nn.Parameter(head.weight * scale)
        bias = nn.Parameter(head.bias + head.weight @ mean)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-7)

    @torch.no_grad()
    def closure() -> torch.Tensor:
        # Whole-batch ops, no chunks: on a shared CPU every extra OpenMP region is a chance to stall.
        total, residual = task.loss_and_residual(torch.addmm(bias, z, weight.T), target)
        weight.grad = torch.mm(residual.T, z).div_(n_rows).add_(weight * penalty, alpha=reg)
        bias.grad = residual.sum(dim=0).div_(n_rows)
        loss = total / n_rows
        return loss + 0.5 * reg * (weight.double().pow(2) * penalty.double()).sum()

    optimizer.step(closure)
    with torch.no_grad():
        head.weight.copy_(weight / scale)
        head.bias.copy_(bias - head.weight @ mean)
    return head.eval()


PROBE_REG_GRID = tuple(float(value) for value in np.logspace(-6, 1, 8))
"""L2 strengths the probe's regularization is chosen from (mean cross-entropy + reg/2·‖W‖²)."""


def capped_rows(rows: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """`rows` (sorted indices) when there are at most `cap`, else a seeded sorted subsample of `cap` of them.

    A softmax head has C·(D+1) parameters; past ~100,000 rows another row changes its fit less
    than the seed does, while every L-BFGS iteration costs time linear in the rows.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) <= cap:
        return rows
    return np.sort(np.random.default_rng([seed, 11]).choice(rows, size=cap, replace=False))


def select_probe_reg(features: np.ndarray, labels: np.ndarray, val_rows: np.ndarray, n_classes: int, seed: int,
                     max_iter: int = 200, grid: tuple[float, ...] = PROBE_REG_GRID,
                     max_rows: int = 100_000, task: Task | None = None) -> tuple[float, dict[float, float]]:
    """The L2 strength whose probe, fit on the rows outside `val_rows` (at most `max_rows` of them,
    seeded), has the lowest validation cross-entropy (given labels, at most `max_rows` validation
    rows); returns (reg, {reg: validation loss}).

    Probe retraining refits a head on the analyzed model's features; with a near-zero penalty
    the refit memorizes noisy labels that the early-stopped model's head did not, and its k = 0
    accuracy falls below the model's. Choosing the penalty on the validation split (never the
    test split) makes the probe at k = 0 stand in for the model.
    """
    val_rows = np.asarray(val_rows, dtype=np.int64)
    task = task or Classification()
    if len(val_rows) == 0:
        return grid[0], {}
    fit = capped_rows(np.setdiff1d(np.arange(len(labels)), val_rows), max_rows, seed)
    val_rows = capped_rows(np.sort(val_rows), max_rows, seed + 1)
    losses = {}
    for reg in grid:
        head = train_linear_probe(features[fit], labels[fit], n_classes, reg, seed, max_iter=max_iter, task=task)
        with torch.no_grad():
            outputs = head(torch.as_tensor(np.asarray(features[val_rows], dtype=np.float32)))
            losses[reg] = float(task.loss(outputs, task.targets(labels[val_rows])))
    return min(losses, key=losses.get), losses
