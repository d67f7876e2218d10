"""Per-sample gradients of each sample's own cross-entropy loss.

Two ways to get them, one fast and one general, plus the slow reference both are
tested against:

1. **Closed form for the last layer** (`last_layer_factors` → `closed_form_norms` /
   `closed_form_gradients`). For logits z = W h + b, p = softmax(z) and the residual
   r = p − e_y, the gradients are ∇W = r hᵀ and ∇b = r. One forward pass yields the
   factors (h, r); the L1/L2 norms factor (‖∇W‖ = ‖r‖·‖h‖ for both norms), so the
   norm detectors cost O(n(C + D)) and the (n, C·D) gradient matrix never has to
   exist. It is materialized only chunk by chunk, when a detector needs it.
2. **torch.func for any parameters** (core.gradients.func), and the batch-size-1
   autograd reference both are tested against.

Layout of a last-layer gradient (one row per sample)
----------------------------------------------------
With the bias (``include_bias=True``) a sample's gradient is ``kron(r, h̃)`` with
h̃ = [h, 1]: shape (C·(D+1),), i.e. a (C, D+1) array flattened row-major whose row c
is ``[r_c·h_1, …, r_c·h_D, r_c]`` — the weight row c of ∇W followed by ∇b_c.
Without the bias it is ``kron(r, h)``, shape (C·D,), which is exactly
``head.weight.grad.flatten()``. `head_grads_to_kron` maps torch's
(head.weight (C, D), head.bias (C,)) gradients into this layout and
`flat_head_to_kron` maps `func_gradients(..., ["head.weight", "head.bias"])` rows.

Layout of a general gradient
----------------------------
`func_gradients` / `loop_gradients` rows concatenate the selected parameters in
`model.named_parameters()` order, each flattened row-major.

Every function puts the model in eval mode for the duration of the call and restores
its previous mode afterwards: gradients are those of the model as it predicts, with
dropout off and BatchNorm using its running statistics. That is also what makes
`vmap` possible — in train mode BatchNorm would mix the samples of a batch and update
its running statistics in place.
"""


from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.gradients.inputs import (
    InputTransform,
    check_labels,
    default_transform,
    eval_mode,
    model_device,
)
from core.models.nets import FeatureModel
from core.run.io import release_pages
from core.tasks.base import Task
from core.tasks.classification import Classification

LAST_LAYER = ("head.weight", "head.bias")
"""Parameter names of the last layer (the head) of every FeatureModel."""


def augment_features(features: np.ndarray, include_bias: bool, dtype: type = np.float32) -> np.ndarray:
    """h̃: (b, D) → (b, D+1) with a trailing column of ones when `include_bias`, else (b, D); in `dtype`."""
    features = np.asarray(features, dtype=dtype)
    if not include_bias:
        return features
    return np.concatenate([features, np.ones((len(features), 1), dtype)], axis=1)


def residuals(probs: np.ndarray, labels: np.ndarray, dtype: type = np.float32, task: Task | None = None
              ) -> np.ndarray:
    """(n, C) r = ∂ℓ/∂z in `dtype`: p − e_y for cross-entropy, or the `task`'s residual (core.tasks)."""
    return (task or Classification()).residual(probs, labels, dtype)


# --------------------------------------------------------------------------- closed form


@dataclass
class LastLayerFactors:
    """What one forward pass gives: everything the last-layer gradient is made of.

    The gradient of sample i is kron(residual[i], [features[i], 1]) (see the module docstring).
    """

    features: np.ndarray
    """(n, D) float32 penultimate features h."""
    probs: np.ndarray
    """(n, C) float32 predictions: softmax probabilities p (or the task's: sigmoids, values)."""
    residual: np.ndarray
    """(n, C) float32 r = ∂ℓ/∂z for the given labels (p − e_y for cross-entropy)."""
    loss: np.ndarray
    """(n,) float32 per-sample loss (cross-entropy −log p_y, from log_softmax, so finite)."""

    @property
    def n_samples(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.residual.shape[1])

    @property
    def feat_dim(self) -> int:
        return int(self.features.shape[1])

    def width(self, include_bias: bool = True) -> int:
        """Length of one flattened gradient: C·(D+1) with the bias, C·D without."""
        return self.n_classes * (self.feat_dim + int(include_bias))


def last_layer_factors(
    model: FeatureModel,
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    input_transform: InputTransform | None = None,
    task: Task | None = None,
) -> LastLayerFactors:
    """One batched, gradient-free forward pass → `LastLayerFactors` for n samples (under the `task`'s loss).

    x: (n, ...) raw inputs; labels: (n,) integer labels in [0, C). `input_transform`
    maps a slice of x to the float tensor the model expects (use the one training
    used); default `torch.as_tensor(batch, dtype=float32)`. device: where the model
    already lives (default: its parameters' device); results come back as numpy.
    """
    transform = input_transform or default_transform
    device = model_device(model, device)
    check_labels(x, labels, model.head.out_features, task)
    with eval_mode(model), torch.no_grad():
        batches = [model.features(transform(x[start:start + batch_size]).to(device)).float().cpu().numpy()
                   for start in range(0, len(x), batch_size)]
    features = np.concatenate(batches) if batches else np.zeros((0, model.head.in_features), np.float32)
    return head_factors(model.head, features, labels, batch_size=batch_size, device=device, task=task)


def head_factors(
    head: nn.Linear,
    features: np.ndarray,
    labels: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    task: Task | None = None,
) -> LastLayerFactors:
    """`LastLayerFactors` from penultimate features already computed (a run's features.npy).

    Only the head runs, O(n·D·C): the backbone's forward pass, the expensive part, is
    not repeated. features: (n, D) float32.
    """
    device = model_device(head, device)
    task = task or Classification()
    labels_np = check_labels(features, labels, head.out_features, task)
    features = np.asarray(features, dtype=np.float32)
    probs = np.zeros((len(features), head.out_features), np.float32)
    loss = np.zeros(len(features), np.float32)
    with eval_mode(head), torch.no_grad():
        for start in range(0, len(features), batch_size):
            stop = start + batch_size
            chunk = features[start:stop]  # shared with torch unless read-only (a memory map): then copied
            inputs = torch.from_numpy(chunk) if chunk.flags.writeable else torch.tensor(chunk)
            outputs = head(inputs.to(device)).float()
            targets = task.targets(labels_np[start:stop]).to(device)
            probs[start:stop] = task.predict(outputs).cpu().numpy()
            loss[start:stop] = task.analysis_loss(outputs, targets, reduction="none").cpu().numpy()
    return LastLayerFactors(features=features, probs=probs, residual=task.residual(probs, labels_np), loss=loss)


def factors_from_outputs(features: np.ndarray, probs: np.ndarray, labels: np.ndarray, task: Task | None = None
                         ) -> LastLayerFactors:
    """`LastLayerFactors` from a model's stored outputs: features (n, D) and predictions (n, C).

    What a run's train stage stored (or what a user handed in from any framework): no model is
    needed, so the in-sample gradient stage never runs a network. For cross-entropy loss = −log p_y,
    clipped at 1e-12 (the same as log_softmax to float32 precision); other tasks: core.tasks.
    """
    task = task or Classification()
    probs = np.asarray(probs, dtype=np.float32)
    if features.dtype != np.float32:
        features = features.astype(np.float32)  # else kept as given: a memory map stays one
    return LastLayerFactors(features=features, probs=probs, residual=task.residual(probs, labels),
                            loss=task.sample_loss(probs, labels))


def gradients_from_outputs(features: np.ndarray, probs: np.ndarray, labels: np.ndarray, include_bias: bool = True,
                           dtype: type = np.float32, task: Task | None = None) -> np.ndarray:
    """(n, C·D̃) kron(p − e_y, h̃) in `dtype` from stored features h (n, D), probabilities (n, C) and labels (n,).

    For callers that hold a model's outputs rather than the model (influence baselines,
    attribution on a run directory). Materializes every row: callers keep n·C·D̃ small.
    """
    residual = residuals(probs, labels, dtype, task)
    h_aug = augment_features(features, include_bias, dtype)
    return (residual[:, :, None] * h_aug[:, None, :]).reshape(len(labels), -1)


NORM_ROWS = 65_536


def closed_form_norms(factors: LastLayerFactors, include_bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(grad_l1, grad_l2), each (n,) float64, of the last-layer gradients, in O(n(C + D)).

    ‖kron(r, h̃)‖₁ = ‖r‖₁‖h̃‖₁ and ‖kron(r, h̃)‖₂ = ‖r‖₂‖h̃‖₂, with h̃ = [h, 1] when
    `include_bias` (so ‖h̃‖₁ = ‖h‖₁ + 1, ‖h̃‖₂² = ‖h‖₂² + 1). Higher = larger gradient.
    """
    residual, features = factors.residual, factors.features
    extra = float(include_bias)
    h_l1 = np.empty(len(features), np.float64)
    h_sq = np.empty(len(features), np.float64)
    # Row blocks, float64 accumulation straight from float32: no (n, D) temporary, and a memory
    # map's pages are released as they are read.
    for start in range(0, len(features), NORM_ROWS):
        block = np.asarray(features[start:start + NORM_ROWS])
        h_l1[start:start + len(block)] = np.abs(block).sum(axis=1, dtype=np.float64)
        h_sq[start:start + len(block)] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        release_pages(features)
    l1 = np.abs(residual).sum(axis=1, dtype=np.float64) * (h_l1 + extra)
    l2 = np.sqrt(np.einsum("ij,ij->i", residual, residual, dtype=np.float64) * (h_sq + extra))
    return l1, l2


def closed_form_gradients(
    factors: LastLayerFactors, include_bias: bool = True, rows: slice | np.ndarray = slice(None)
) -> np.ndarray:
    """(b, width) float32: kron(r, h̃) materialized for the selected rows only.

    Memory is b·C·(D+1) floats, so callers chunk (`iter_closed_form_chunks`).
    """
    residual = factors.residual[rows]
    features = augment_features(factors.features[rows], include_bias)
    return (residual[:, :, None] * features[:, None, :]).reshape(len(residual), -1)


def iter_closed_form_chunks(
    factors: LastLayerFactors, include_bias: bool = True, chunk_size: int = 1024
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (start, (b, width) float32 chunk) for rows start:start+b, b ≤ chunk_size."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    for start in range(0, factors.n_samples, chunk_size):
        yield start, closed_form_gradients(factors, include_bias, slice(start, start + chunk_size))


def head_grads_to_kron(weight_grad: np.ndarray | torch.Tensor, bias_grad: np.ndarray | torch.Tensor | None
                       ) -> np.ndarray:
    """Torch's head gradients → the kron layout.

    weight_grad (..., C, D) and bias_grad (..., C) → (..., C·(D+1)) float32; with
    bias_grad None → (..., C·D) (= weight_grad flattened).
    """
    weight = np.asarray(weight_grad.detach().cpu() if isinstance(weight_grad, torch.Tensor) else weight_grad,
                        dtype=np.float32)
    lead = weight.shape[:-2]
    if bias_grad is None:
        return weight.reshape(*lead, -1)
    bias = np.asarray(bias_grad.detach().cpu() if isinstance(bias_grad, torch.Tensor) else bias_grad,
                      dtype=np.float32)
    if bias.shape != weight.shape[:-1]:
        raise ValueError(f"bias gradient shape {bias.shape} does not match weight gradient shape {weight.shape}")
    return np.concatenate([weight, bias[..., None]], axis=-1).reshape(*lead, -1)


def flat_head_to_kron(flat: np.ndarray, n_classes: int, feat_dim: int, include_bias: bool = True) -> np.ndarray:
    """Rows of `func_gradients(model, ..., param_names=["head.weight", "head.bias"])` → kron layout.

    flat (b, C·D + C) = [head.weight.flatten(), head.bias] → (b, C·(D+1)), or (b, C·D)
    with `include_bias=False` (the bias part is dropped).
    """
    flat = np.asarray(flat, dtype=np.float32)
    expected = n_classes * feat_dim + n_classes
    if flat.ndim != 2 or flat.shape[1] != expected:
        raise ValueError(f"expected (b, {expected}) = (b, C·D + C) head gradients, got shape {flat.shape}")
    weight = flat[:, :n_classes * feat_dim].reshape(-1, n_classes, feat_dim)
    return head_grads_to_kron(weight, flat[:, n_classes * feat_dim:] if include_bias else None)
