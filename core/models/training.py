"""Seeded ERM training with early stopping, and prediction (the linear-probe refit: core.models.probe).

The same `TrainConfig` recipe trains the analyzed model, each cross-fitting fold
model, and every retrained model after pruning, so accuracy differences come from
the data removed and nothing else.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from core.config import TrainConfig
from core.models.nets import FeatureModel, build_model, select_device
from core.models.probe import select_probe_reg, train_linear_probe
from core.models.registry import MODELS, OPTIMIZERS
from core.models.seeding import seed_everything
from core.models.weights import BackboneWeights, backbone_weights
from core.tasks.base import Task
from core.tasks.classification import Classification

ProgressFn = Callable[[int, int], None]
"""Called as progress(done, total) after each epoch; the dashboard uses it for its bar."""


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """Raw inputs as the model takes them: uint8 images scaled to float32 [0, 1], int64 token ids unchanged
    (text models with token inputs), everything else (tabular values, embeddings) float32."""
    tensor = torch.as_tensor(batch)
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    if tensor.dtype == torch.int64:
        return tensor
    return tensor.float()


def make_adam(parameters, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_sgd(parameters, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@dataclass
class TrainResult:
    model: FeatureModel
    epochs_run: int
    """Epochs of the early-stopping phase (0 for the exact solver)."""
    best_epoch: int
    """Epoch with the lowest validation loss: how many epochs the final model trained."""
    val_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    max_epochs: int = 0
    """The epoch budget after `train.min_steps` raised it for a small dataset."""
    refit: bool = False
    """Whether the final model was retrained on every row (validation rows included)."""
    solver: str = "sgd"
    """"sgd" (minibatch epochs) or "lbfgs" (a convex model solved to its optimum)."""
    notes: list[str] = field(default_factory=list)
    """Warnings for the person: e.g. validation loss still falling at the last epoch."""
    weights: str = "none"
    """Which weights the backbone started from (one line: a local file and its hash, torchvision's, none)."""
    early_stopped: FeatureModel | None = None
    """With a refit: the model at the best epoch before it, for which the validation split is held out
    (the influence baselines need a validation set their model never trained on)."""
    probe_reg: tuple[float, dict[float, float]] | None = None
    """`solver="lbfgs_val"`: (the L2 strength chosen on the validation split, {strength: validation loss});
    the model is then itself a probe on its features, so probe retraining can reuse the choice."""


def starting_weights(model_name: str, cfg: TrainConfig, encoder: dict | None = None) -> BackboneWeights:
    """The pretrained weights a model with a backbone starts from (core.models.weights); none otherwise.

    A model with token inputs (text_lora) starts from the text dataset's encoder (`encoder`: the
    Dataset's encoder facts: path, max_length, name, sha256) with the config's LoRA settings."""
    if MODELS.entry(model_name).meta.get("inputs") == "tokens":
        if encoder is None:
            return BackboneWeights(None, "none: not a text dataset")
        spec = {"encoder": encoder["path"], "max_length": encoder["max_length"], "rank": cfg.lora_rank,
                "alpha": cfg.lora_alpha}
        return BackboneWeights(spec, f"{encoder['name']} (sha256 {encoder['sha256'][:12]}) with LoRA rank "
                                     f"{cfg.lora_rank}, alpha {cfg.lora_alpha:g}")
    arch = MODELS.entry(model_name).meta.get("backbone")
    if arch is None:
        return BackboneWeights(None, "none: no pretrained backbone for this model")
    return backbone_weights(arch, cfg.pretrained, cfg.weights)


def epoch_budget(n_rows: int, cfg: TrainConfig) -> tuple[int, int]:
    """(max epochs, patience) for `n_rows` training rows: at least `cfg.min_steps` optimizer steps,
    and a patience of at least a tenth of that budget, so a 150-sample dataset trains as long
    (in steps) as a large one instead of stopping at its random initialization."""
    steps_per_epoch = max(1, -(-n_rows // cfg.batch_size))
    max_epochs = max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch))
    patience = max(cfg.patience, -(-max_epochs // 10)) if max_epochs > cfg.epochs else cfg.patience
    return max_epochs, patience


def validation_split(n: int, fraction: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows), sorted: a seeded random `fraction` held out (none when too small)."""
    n_val = int(round(fraction * n))
    if fraction <= 0 or n_val < 1 or n - n_val < 2:
        return np.arange(n), np.empty(0, dtype=np.int64)
    order = torch.randperm(n, generator=generator).numpy()
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_model(
    model_name: str,
    kind: str,
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    cfg: TrainConfig,
    seed: int,
    *,
    val_rows: np.ndarray | None = None,
    description: str = "train",
    progress: ProgressFn | None = None,
    show_bar: bool = True,
    encoder: dict | None = None,
    task: Task | None = None,
) -> TrainResult:
    """Train a fresh model on (x, labels): the one recipe for the analyzed model, fold models and retraining.

    x: (n, ...) raw inputs (uint8 images or float32 features); labels: the task's labels (core.tasks:
    (n,) int64 classes by default; n_classes is then the head's width: classes, tags, or 1 value), and
    the task's loss is what training minimizes.
    val_rows: the rows early stopping watches (the run's validation split); None carves
    `cfg.val_fraction` at random (seeded). encoder: a text dataset's encoder facts (Dataset.encoder),
    which a model with token inputs starts from.

    1. A convex model (`solver="lbfgs"` in the model registry: logistic regression) is solved
       to its optimum on every row by L-BFGS (core.models.probe): no epochs to choose. With
       `solver="lbfgs_val"` (the text probe) its L2 strength is first chosen on the validation
       split (`select_probe_reg`: lowest validation cross-entropy on the given labels), as early
       stopping chooses an epoch: a head on 384 embedding dimensions can fit a few hundred noisy
       labels exactly, and then the noisy samples' gradients vanish.
    2. Otherwise minibatch training on the rows outside the validation split, for at least
       `cfg.min_steps` steps (`epoch_budget`), stopping after `patience` epochs without a lower
       validation loss; the epoch with the lowest loss is kept.
    3. With `cfg.refit` (default), a fresh model (same seed) then trains on every row,
       validation rows included, for that many epochs: the returned model has seen every
       sample, so every sample's gradient is in-sample (docs/gradient-modes.md measures this).
    """
    started = time.perf_counter()
    generator = seed_everything(seed)
    device = select_device(cfg.device)
    weights = starting_weights(model_name, cfg, encoder)
    model = build_model(model_name, x.shape[1:], n_classes, kind, weights.state)
    task = task or Classification()
    labels = np.asarray(labels)
    solver = MODELS.entry(model_name).meta.get("solver")
    if solver in ("lbfgs", "lbfgs_val"):
        if solver == "lbfgs_val" and val_rows is None:
            val_rows = validation_split(len(x), cfg.val_fraction, generator)[1]
        return _solve_convex(model, x, labels, n_classes, cfg, seed, started,
                             val_rows=val_rows if solver == "lbfgs_val" else None, task=task)
    targets = task.targets(labels)
    if val_rows is None:
        fit_rows, val_rows = validation_split(len(x), cfg.val_fraction, generator)
    else:
        val_rows = np.asarray(val_rows, dtype=np.int64)
        fit_rows = np.setdiff1d(np.arange(len(x)), val_rows)
    max_epochs, patience = epoch_budget(len(fit_rows), cfg)
    total = max_epochs * (2 if cfg.refit and len(val_rows) else 1)
    bar = tqdm(total=total, desc=description, unit="epoch", leave=False, disable=not show_bar or None)

    def tick(done: int) -> None:
        bar.update(1)
        if progress is not None:
            progress(done, total)

    model.set_input_stats(to_tensor(x[fit_rows]))
    model.to(device)
    optimizer = OPTIMIZERS.get(cfg.optimizer)(model.parameters(), cfg)
    best_state, best_loss, best_epoch, stale = None, float("inf"), 0, 0
    val_losses: list[float] = []
    epochs_run = 0
    for epoch in range(max_epochs):
        _one_epoch(model, optimizer, x, targets, fit_rows, cfg.batch_size, generator, device, task)
        epochs_run = epoch + 1
        tick(epochs_run)
        if len(val_rows) == 0:
            continue
        val_loss = _mean_loss(model, x[val_rows], targets[torch.as_tensor(val_rows)], device, model.forward_batch,
                              task)
        val_losses.append(val_loss)
        bar.set_postfix(val_loss=f"{val_loss:.4f}")
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, stale = val_loss, epochs_run, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= patience:
                break
    notes = []
    if best_state is None:
        best_epoch = epochs_run
    else:
        model.load_state_dict(best_state)
        if best_epoch == max_epochs:
            notes.append(f"{description}: validation loss was still falling at the last of {max_epochs} epochs; "
                         "raise --epochs (or --min-steps)")
    refit = bool(cfg.refit and len(val_rows))
    early_stopped = None
    if refit:
        early_stopped = model.eval()
        bar.total = epochs_run + best_epoch
        generator = seed_everything(seed)
        model = build_model(model_name, x.shape[1:], n_classes, kind, weights.state)
        model.set_input_stats(to_tensor(x))
        model.to(device)
        optimizer = OPTIMIZERS.get(cfg.optimizer)(model.parameters(), cfg)
        every_row = np.arange(len(x))
        for epoch in range(best_epoch):
            _one_epoch(model, optimizer, x, targets, every_row, cfg.batch_size, generator, device, task)
            tick(epochs_run + epoch + 1)
    bar.close()
    model.eval()
    return TrainResult(model, epochs_run, best_epoch, val_losses, time.perf_counter() - started,
                       max_epochs=max_epochs, refit=refit, notes=notes, early_stopped=early_stopped,
                       weights=weights.description)


@torch.no_grad()
def _mean_loss(model: nn.Module, x: np.ndarray, targets: torch.Tensor, device: torch.device, batch_size: int,
               task: Task) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        outputs = model(to_tensor(x[start:start + batch_size]).to(device))
        total += task.loss(outputs, targets[start:start + batch_size].to(device), reduction="sum").item()
    return total / max(len(x), 1)


def _one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: np.ndarray, targets: torch.Tensor,
               rows: np.ndarray, batch_size: int, generator: torch.Generator, device: torch.device,
               task: Task) -> None:
    """One pass over `rows` in a seeded random order, in minibatches (`targets`: the task's, all rows)."""
    model.train()
    order = rows[torch.randperm(len(rows), generator=generator).numpy()]
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        if len(batch) < 2 and len(order) > 1:
            continue  # a batch of one breaks BatchNorm and adds nothing
        inputs = to_tensor(x[batch]).to(device)
        target = targets[torch.as_tensor(batch)].to(device)
        optimizer.zero_grad(set_to_none=True)
        task.loss(model(inputs), target).backward()
        optimizer.step()


def _solve_convex(model: FeatureModel, x: np.ndarray, labels: np.ndarray, n_classes: int, cfg: TrainConfig,
                  seed: int, started: float, val_rows: np.ndarray | None = None, task: Task | None = None
                  ) -> TrainResult:
    """A linear model on standardized inputs, solved by L-BFGS to the optimum of the task's mean loss
    + reg/2·‖W‖² on every row (the same objective minibatch training approaches): reg is
    `weight_decay`, or, given `val_rows`, the grid value with the lowest validation loss of a fit
    on the other rows."""
    model.set_input_stats(to_tensor(x))
    with torch.no_grad():
        features = model.features(to_tensor(x)).numpy()
    reg, notes, chosen = cfg.weight_decay, [], None
    if val_rows is not None and len(val_rows):
        chosen = select_probe_reg(features, labels, val_rows, n_classes, seed, cfg.probe_max_iter,
                                  max_rows=cfg.probe_max_rows, task=task)
        reg = chosen[0]
        notes.append(f"L2 strength {reg:g} chosen on {len(val_rows)} validation rows")
    head = train_linear_probe(features, labels, n_classes, reg, seed, max_iter=cfg.probe_max_iter, task=task)
    model.head.load_state_dict(head.state_dict())
    model.to(select_device(cfg.device)).eval()
    return TrainResult(model, 0, 0, [], time.perf_counter() - started, solver="lbfgs", notes=notes,
                       probe_reg=chosen)


@torch.no_grad()
def predict_probs(model: FeatureModel, x: np.ndarray, batch_size: int | None = None,
                  task: Task | None = None) -> np.ndarray:
    """(n, C) float32 predictions: softmax probabilities, or what the task makes of the outputs (core.tasks)
    (`batch_size` rows per pass, default the model's forward_batch)."""
    batch_size = batch_size or model.forward_batch
    task = task or Classification()
    model.eval()
    device = next(model.parameters()).device
    out = [
        task.predict(model(to_tensor(x[s:s + batch_size]).to(device))).cpu().numpy()
        for s in range(0, len(x), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)


@torch.no_grad()
def extract_features(model: FeatureModel, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """(n, feature_dim) float32 penultimate features h, the linear probe's inputs."""
    batch_size = batch_size or model.forward_batch
    model.eval()
    device = next(model.parameters()).device
    out = [model.features(to_tensor(x[s:s + batch_size]).to(device)).cpu().numpy()
           for s in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float32)


def load_model_state(model: FeatureModel, state: dict[str, torch.Tensor]) -> FeatureModel:
    """Load a state dict whose input-statistics buffers may differ in shape from a fresh model's."""
    model.input_mean = torch.empty_like(state["input_mean"])
    model.input_std = torch.empty_like(state["input_std"])
    model.load_state_dict(state)
    return model.eval()
