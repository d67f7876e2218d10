"""What a task kind decides, in one place: the label's form, the head's loss, and its residual r = ∂ℓ/∂z.

Every per-sample last-layer gradient is ∇W ℓ = r hᵀ, ∇b ℓ = r for a head z = W h + b, whatever the
loss: only r changes with the task. So training (core.models.training, core.models.probe), the
closed-form gradients (core.gradients.last_layer), torch.func gradients and every metric ask the
run's `Task` instead of assuming softmax cross-entropy.

Arrays: `labels` are the dataset's own (classification (n,) int64 class indices; multilabel (n, C)
uint8 0/1 tag indicators; regression (n,) float64 values). `outputs` are the head's raw z (n, C)
(C = 1 for regression); `preds` what `predict` makes of them: probabilities (n, C) softmax, (n, C)
sigmoid, or (n, 1) values in the target's units. Runs store `preds` (erm_outputs.npz `train_probs`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.errors import DataError
from core.tasks.registry import TASKS


class Task:
    """A task kind. Subclasses implement every method; parameters (a regression's scale) live in `params`."""

    name = ""

    def as_dict(self) -> dict[str, Any]:
        """What the manifest stores (`task`), enough for `task_from_dict` to rebuild it."""
        return {"name": self.name, **self.params()}

    def params(self) -> dict[str, Any]:
        return {}

    # ---------------------------------------------------------------- labels
    def check_labels(self, name: str, labels: np.ndarray, n: int, n_outputs: int) -> np.ndarray:
        """`labels` in the task's dtype and shape, or a DataError naming `name`, the shape and the values."""
        raise NotImplementedError

    def is_wrong(self, given: np.ndarray, true: np.ndarray) -> np.ndarray:
        """(n,) bool: the given label differs from the true one."""
        raise NotImplementedError

    # ---------------------------------------------------------------- torch
    def targets(self, labels: np.ndarray) -> torch.Tensor:
        """What `loss` compares the head's outputs with (a regression's standardized values)."""
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The training objective's per-sample loss ("none": (n,)), or its mean or sum."""
        raise NotImplementedError

    def analysis_loss(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The loss whose per-sample gradients are analyzed (its gradient in z is `residual`): the training loss,
        except for a regression fit robustly (core.tasks.regression)."""
        return self.loss(outputs, targets, reduction)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """The head's raw outputs (n, C) → `preds` (n, C)."""
        raise NotImplementedError

    def loss_and_residual(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed training loss as float64, its gradient in z (n, C)) in one pass: the probe's hand-written
        gradient."""
        raise NotImplementedError

    # ---------------------------------------------------------------- stored predictions
    def residual(self, preds: np.ndarray, labels: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """(n, C) r = ∂ℓ/∂z of each sample's analysis loss at its stored `preds`."""
        raise NotImplementedError

    def sample_loss(self, preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(n,) float32 each sample's loss at its stored `preds` (finite: probabilities clipped at 1e-12)."""
        raise NotImplementedError

    def metrics(self, preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """Test metrics of `preds` against `labels`; the first key is the registry's `metric`."""
        raise NotImplementedError

    # ---------------------------------------------------------------- curvature (influence baselines)
    def curvature_entry(self, preds: np.ndarray, a: int, b: int) -> np.ndarray | float:
        """(n,) float64 J_i[a, b] = ∂²ℓ_i/∂z_a∂z_b at the stored `preds` (float64): the last-layer Hessian is
        mean_i J_i ⊗ h̃_i h̃_iᵀ (core.influence.hessians)."""
        raise NotImplementedError

    def curvature_apply(self, preds: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(b, C, k) J_i z_i for output perturbations z (b, C, k) of the rows whose `preds` (b, C) are given."""
        raise NotImplementedError

    @property
    def metric(self) -> str:
        return TASKS.entry(self.name).meta["metric"]

    @property
    def higher_is_better(self) -> bool:
        return bool(TASKS.entry(self.name).meta["higher"])


def make_task(name: str, given: np.ndarray | None = None, **options: Any) -> Task:
    """The task `name`, fitted to the given training labels where it has parameters (a regression's scale);
    `options` are its training settings (a regression's `huber_delta`), ignored by tasks without any."""
    klass = TASKS.get(name)
    return klass.fit(given, **options) if hasattr(klass, "fit") else klass()


def task_from_dict(raw: dict[str, Any] | None) -> Task:
    """The task a manifest's `task` block describes; a run without one is a classification run."""
    raw = dict(raw or {"name": "classification"})
    klass = TASKS.get(raw.pop("name"))
    return klass(**raw)


def label_error(name: str, what: str) -> DataError:
    return DataError(f"{name}: {what}")
