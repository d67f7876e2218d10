"""Benchmark 7: linear-probe retraining latency, what the dashboard's budget slider waits for.

`core.models.training.train_linear_probe` on cached features: N = 50,000 samples, D = 512, C = 10
(synthetic ReLU-like features, 10% label noise; the training weight decay), with torch's
threads left at their default (`retrain_threads`; --quick: 1, the second core being busy with the
background lane; on a quiet machine two threads are not slower than one). With `probe_reference`, the
implementation it replaced (`reference_linear_probe`: the same L-BFGS on uncentred features through autograd) runs
in the same process, interleaved, for the before/after ratio, and both optima are
compared on the exact (float64) objective.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.bench.common import (
    Log,
    Record,
    Sizes,
    best_of,
    info,
    synthetic_features,
    target,
    thread_limit,
)
from core.config import TrainConfig
from core.models.probe import train_linear_probe
from core.models.training import seed_everything

LATENCY_TARGET_S = 10.0


def reference_linear_probe(features: np.ndarray, labels: np.ndarray, n_classes: int, weight_decay: float,
                           seed: int, max_iter: int = 200) -> nn.Linear:
    """The previous train_linear_probe, verbatim: full-batch L-BFGS through autograd on raw features."""
    seed_everything(seed)
    h = torch.as_tensor(features, dtype=torch.float32)
    target_labels = torch.as_tensor(labels, dtype=torch.int64)
    head = nn.Linear(h.shape[1], n_classes)
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-7)
    reg = max(weight_decay, 1e-6)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(head(h), target_labels) + 0.5 * reg * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head.eval()


def probe_objective(head: nn.Linear, features: np.ndarray, labels: np.ndarray, weight_decay: float) -> float:
    """The probe's objective in float64: mean cross-entropy + reg/2 · ‖W‖² (reg as in train_linear_probe)."""
    weight = head.weight.detach().double()
    logits = torch.as_tensor(features).double() @ weight.T + head.bias.detach().double()
    loss = F.cross_entropy(logits, torch.as_tensor(labels, dtype=torch.int64))
    return float(loss + 0.5 * max(weight_decay, 1e-6) * weight.pow(2).sum())


def run(sizes: Sizes, log: Log) -> list[Record]:
    with thread_limit(sizes.retrain_threads):
        return _run(sizes, log)


def _run(sizes: Sizes, log: Log) -> list[Record]:
    n, n_classes, dim = sizes.probe_n, sizes.probe_classes, sizes.feat_dim
    weight_decay = TrainConfig().weight_decay
    log(f"[7] linear-probe retrain latency: N={n:,}, D={dim}, C={n_classes} (torch threads: {torch.get_num_threads()})")
    data = synthetic_features(n, dim, n_classes, seed=7, separation=0.2)  # ~95% held-out accuracy
    fns = {"probe": lambda: train_linear_probe(data.features, data.given, n_classes, weight_decay, seed=0)}
    if sizes.probe_reference:
        fns["reference"] = lambda: reference_linear_probe(data.features, data.given, n_classes, weight_decay, seed=0)
    repeats = 2 if sizes.probe_reference else 1
    seconds, heads = best_of(fns, repeats)
    deterministic = None
    if sizes.probe_reference:  # the full run also checks that a second fit gives the same head
        again = train_linear_probe(data.features, data.given, n_classes, weight_decay, seed=0)
        deterministic = all(torch.equal(a, b) for a, b in zip(heads["probe"].state_dict().values(),
                                                              again.state_dict().values()))
    objective = probe_objective(heads["probe"], data.features, data.given, weight_decay)
    log(f"    train_linear_probe: {seconds['probe']:.2f} s (best of {repeats}); objective {objective:.6f}"
        + ("" if deterministic is None else f"; same result twice: {deterministic}"))
    records = [target("retrain_probe_seconds", seconds["probe"], "s", f"<= {LATENCY_TARGET_S:g}",
                      note=f"train_linear_probe, N={n}, D={dim}, C={n_classes}, torch threads "
                           f"{torch.get_num_threads()}")]
    if "reference" in seconds:
        reference_objective = probe_objective(heads["reference"], data.features, data.given, weight_decay)
        speedup = seconds["reference"] / seconds["probe"]
        log(f"    previous implementation: {seconds['reference']:.2f} s; objective {reference_objective:.6f}; "
            f"speed-up {speedup:.2f}x; objective difference {objective - reference_objective:+.2e}")
        records += [info("retrain_probe_previous_seconds", seconds["reference"], "s", note="before the change"),
                    info("retrain_probe_speedup", speedup, "x", note="previous / current, same process, interleaved"),
                    info("retrain_probe_objective_delta", objective - reference_objective, "",
                         note="current - previous objective (float64); <= 0 means at least as good an optimum")]
    if deterministic is False:
        raise AssertionError("train_linear_probe gave different heads for the same inputs and seed")
    return records
