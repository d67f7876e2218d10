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
from torch.nn import functional as F
from tqdm.auto import tqdm

from core.config import TrainConfig
from core.models.nets import FeatureModel, build_model, select_device
from core.models.registry import OPTIMIZERS

ProgressFn = Callable[[int, int], None]
"""Called as progress(done, total) after each epoch; the dashboard uses it for its bar."""


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """Raw inputs to float32: uint8 images are scaled to [0, 1], tabular values pass through."""
    tensor = torch.as_tensor(batch)
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    return tensor.float()


def make_adam(parameters, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_sgd(parameters, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


@dataclass
class TrainResult:
    model: FeatureModel
    epochs_run: int
    best_epoch: int
    val_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _validation_split(n: int, fraction: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_val = int(round(fraction * n))
    if fraction <= 0 or n_val < 1 or n - n_val < 2:
        return np.arange(n), np.empty(0, dtype=np.int64)
    order = torch.randperm(n, generator=generator).numpy()
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@torch.no_grad()
def _mean_loss(model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device, batch_size: int) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        logits = model(to_tensor(x[start:start + batch_size]).to(device))
        target = torch.as_tensor(y[start:start + batch_size], device=device)
        total += F.cross_entropy(logits, target, reduction="sum").item()
    return total / max(len(x), 1)


def train_model(
    model_name: str,
    kind: str,
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    cfg: TrainConfig,
    seed: int,
    *,
    description: str = "train",
    progress: ProgressFn | None = None,
    show_bar: bool = True,
) -> TrainResult:
    """Train a fresh model on (x, labels) with early stopping on a seeded validation split.

    x: (n, ...) raw inputs (uint8 images or float32 features); labels: (n,) int64.
    Returns the model at the epoch with the lowest validation loss (the last epoch when
    early stopping is off).
    """
    started = time.perf_counter()
    generator = seed_everything(seed)
    device = select_device(cfg.device)
    model = build_model(model_name, x.shape[1:], n_classes, kind, cfg.pretrained)
    train_idx, val_idx = _validation_split(len(x), cfg.val_fraction, generator)
    x_fit, y_fit = x[train_idx], labels[train_idx].astype(np.int64)
    model.set_input_stats(to_tensor(x_fit))
    model.to(device)

    optimizer = OPTIMIZERS.get(cfg.optimizer)(model.parameters(), cfg)

    best_state, best_loss, best_epoch, stale = None, float("inf"), 0, 0
    val_losses: list[float] = []
    epochs_run = 0
    bar = tqdm(range(cfg.epochs), desc=description, unit="epoch", leave=False, disable=not show_bar or None)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x_fit), generator=generator).numpy()
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start:start + cfg.batch_size]
            if len(batch) < 2 and len(order) > 1:
                continue  # a batch of one breaks BatchNorm and adds nothing
            inputs = to_tensor(x_fit[batch]).to(device)
            target = torch.as_tensor(y_fit[batch], device=device)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(inputs), target).backward()
            optimizer.step()
        epochs_run = epoch + 1
        if progress is not None:
            progress(epochs_run, cfg.epochs)
        if len(val_idx) == 0:
            continue
        val_loss = _mean_loss(model, x[val_idx], labels[val_idx], device, 1024)
        val_losses.append(val_loss)
        bar.set_postfix(val_loss=f"{val_loss:.4f}")
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, stale = val_loss, epochs_run, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = epochs_run
    model.eval()
    return TrainResult(model, epochs_run, best_epoch, val_losses, time.perf_counter() - started)


@torch.no_grad()
def predict_probs(model: FeatureModel, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """(n, C) float32 softmax probabilities."""
    model.eval()
    device = next(model.parameters()).device
    out = [
        torch.softmax(model(to_tensor(x[s:s + batch_size]).to(device)), dim=1).cpu().numpy()
        for s in range(0, len(x), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)


@torch.no_grad()
def extract_features(model: FeatureModel, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """(n, feature_dim) float32 penultimate features h, the linear probe's inputs."""
    model.eval()
    device = next(model.parameters()).device
    out = [model.features(to_tensor(x[s:s + batch_size]).to(device)).cpu().numpy()
           for s in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float32)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(axis=1) == labels).mean())


def load_model_state(model: FeatureModel, state: dict[str, torch.Tensor]) -> FeatureModel:
    """Load a state dict whose input-statistics buffers may differ in shape from a fresh model's."""
    model.input_mean = torch.empty_like(state["input_mean"])
    model.input_std = torch.empty_like(state["input_std"])
    model.load_state_dict(state)
    return model.eval()
