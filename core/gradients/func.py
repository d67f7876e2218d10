"""Per-sample gradients of any parameters with torch.func, and the batch-size-1 reference.

- `func_gradients`: `vmap(grad(loss))` over a `functional_call` of the model, chunked,
  for "all" parameters or a list of parameter-name prefixes (`select_parameters` parses
  `GradientConfig.layers`).
- `loop_gradients`: a batch-size-1 autograd loop, what the paper's reference code does.
  Slow; kept for tests and benchmarks (the fast paths are tested against it).

Layout: rows concatenate the selected parameters in `model.named_parameters()` order,
each flattened row-major. Both put the model in eval mode while they run
(core.gradients.inputs).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from core.errors import ConfigError
from core.gradients.inputs import (
    InputTransform,
    check_labels,
    default_transform,
    eval_mode,
    model_device,
)
from core.gradients.last_layer import LAST_LAYER
from core.models.nets import FeatureModel
from core.tasks.base import Task
from core.tasks.classification import Classification


def split_parameters(model: nn.Module, selected: list[str] | set[str]) -> tuple[dict[str, torch.Tensor],
                                                                               dict[str, torch.Tensor]]:
    """(selected parameters, everything else: the other parameters and every buffer), detached.

    The two dicts `functional_call(model, {**constants, **params}, ...)` needs to
    differentiate with respect to `params` only.
    """
    selected = set(selected)
    params = {name: p.detach() for name, p in model.named_parameters() if name in selected}
    constants = {name: p.detach() for name, p in model.named_parameters() if name not in selected}
    constants.update({name: b.detach() for name, b in model.named_buffers()})
    return params, constants


def _trainable_names(model: nn.Module) -> list[str]:
    return [name for name, param in model.named_parameters() if param.requires_grad]


def _resolve_prefixes(model: nn.Module, prefixes: list[str]) -> list[str]:
    """Parameter names (named_parameters order) matching any prefix at a '.' boundary."""
    trainable = _trainable_names(model)
    chosen: set[str] = set()
    for prefix in prefixes:
        matched = [name for name in trainable if name == prefix or name.startswith(prefix + ".")]
        if not matched:
            top_level = sorted(dict.fromkeys(name.split(".")[0] for name in trainable))
            example = trainable[0].rsplit(".", 1)[0] if trainable else "head"
            raise ConfigError(
                f"gradients.layers: no trainable parameter matches {prefix!r}; top-level names: "
                f"{', '.join(top_level)} (prefixes may go deeper, e.g. {example!r}), or use 'last' / 'all'"
            )
        chosen.update(matched)
    return [name for name in trainable if name in chosen]


def select_parameters(model: FeatureModel, spec: str) -> list[str]:
    """Parse `GradientConfig.layers` into parameter names, in `named_parameters()` order.

    "last" → ["head.weight", "head.bias"]; "all" → every trainable parameter; otherwise
    comma-separated prefixes matched at '.' boundaries ("backbone.3" matches
    "backbone.3.weight", not "backbone.30.weight"). An unknown prefix is a ConfigError
    listing the available top-level names.
    """
    spec = spec.strip()
    if spec == "last":
        return _resolve_prefixes(model, list(LAST_LAYER))
    if spec == "all":
        names = _trainable_names(model)
        if not names:
            raise ConfigError("gradients.layers='all' but the model has no trainable parameters")
        return names
    prefixes = [part.strip() for part in spec.split(",") if part.strip()]
    if not prefixes:
        raise ConfigError("gradients.layers must be 'last', 'all' or comma-separated parameter-name prefixes")
    return _resolve_prefixes(model, prefixes)


def _resolve_names(model: nn.Module, param_names: list[str] | None) -> list[str]:
    if param_names is None:
        return select_parameters(model, "all")
    return _resolve_prefixes(model, list(param_names))


def func_gradients(
    model: FeatureModel,
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    *,
    param_names: list[str] | None = None,
    chunk_size: int = 256,
    device: str | torch.device | None = None,
    input_transform: InputTransform | None = None,
    task: Task | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (start, (b, P) float32) per-sample gradients of each sample's own loss (cross-entropy, or the
    `task`'s: core.tasks).

    param_names: parameter names or prefixes (None = all trainable parameters); the
    columns concatenate the matching parameters in `model.named_parameters()` order,
    each flattened row-major, so P = their total size. Computed with
    `vmap(grad(loss))` over `torch.func.functional_call`, `chunk_size` samples at a
    time (memory ~ chunk_size · (P + one sample's activations)). The model is in eval
    mode while the generator runs (BatchNorm uses running statistics, which is what
    lets vmap treat samples independently).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    transform = input_transform or default_transform
    device = model_device(model, device)
    names = _resolve_names(model, param_names)
    task = task or Classification()
    labels_np = check_labels(x, labels, model.head.out_features, task)
    all_targets = task.targets(labels_np)

    def sample_loss(params: dict[str, torch.Tensor], constants: dict[str, torch.Tensor],
                    sample: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        outputs = functional_call(model, {**constants, **params}, (sample.unsqueeze(0),))
        return task.analysis_loss(outputs.float(), target.unsqueeze(0))

    per_sample_grad = vmap(grad(sample_loss), in_dims=(None, None, 0, 0))
    with eval_mode(model):
        params, constants = split_parameters(model, names)
        for start in range(0, len(x), chunk_size):
            batch = transform(x[start:start + chunk_size]).to(device)
            targets = all_targets[start:start + chunk_size].to(device)
            grads = per_sample_grad(params, constants, batch, targets)
            flat = torch.cat([grads[name].reshape(len(batch), -1) for name in names], dim=1)
            yield start, flat.float().cpu().numpy()


def loop_gradients(
    model: FeatureModel,
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    param_names: list[str] | None = None,
    *,
    device: str | torch.device | None = None,
    input_transform: InputTransform | None = None,
    task: Task | None = None,
) -> np.ndarray:
    """(n, P) float32 per-sample gradients from a batch-size-1 autograd loop: the slow reference.

    Same columns and eval-mode semantics as `func_gradients`; one forward and backward
    pass per sample, as in the paper's reference code. For tests and benchmarks.
    """
    transform = input_transform or default_transform
    device = model_device(model, device)
    names = _resolve_names(model, param_names)
    task = task or Classification()
    labels_np = check_labels(x, labels, model.head.out_features, task)
    all_targets = task.targets(labels_np)
    named = dict(model.named_parameters())
    params = [named[name] for name in names]
    rows = []
    with eval_mode(model):
        for i in range(len(x)):
            sample = transform(x[i:i + 1]).to(device)
            loss = task.analysis_loss(model(sample).float(), all_targets[i:i + 1].to(device))
            grads = torch.autograd.grad(loss, params)
            rows.append(torch.cat([g.reshape(-1) for g in grads]).float().cpu().numpy())
    total = sum(p.numel() for p in params)
    return np.stack(rows) if rows else np.zeros((0, total), np.float32)
