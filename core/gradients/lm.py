"""Per-sample gradients of a language model's trainable (LoRA) parameters.

The loss of a text is `core.models.lm.sequence_losses` (mean next-token NLL). Per-sample
gradients come three ways (`LM_GRADIENT_METHODS`), all in eval mode (dropout off) and
equal up to float error:

- ``hooks`` (fast, the default when every trainable parameter is the weight or bias of
  an ``nn.Linear``, as LoRA's A and B matrices are): one batched forward and backward of
  the *sum* of per-text losses; a Linear layer's per-text weight gradient is
  Σ_t δ_t x_tᵀ over that text's positions, from the layer's inputs x and output
  gradients δ captured by hooks (texts never interact in a causal LM forward pass
  without a cache, so δ of text b depends on text b only).
- ``vmap``: `torch.func.vmap(grad(loss))` over `functional_call`, one text per call.
- ``loop``: one autograd backward pass per text: the slow reference.

Row layout: the trainable parameters in `named_parameters()` order, each flattened
row-major (as `core.gradients.func.func_gradients`). `per_sample_gradients` projects
chunk by chunk (core.gradients.projection), so the full matrix never exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from core.errors import ConfigError
from core.gradients.func import split_parameters
from core.gradients.projection import Projector
from core.models.lm import TokenBatch, forward_logits, sequence_losses
from core.registry import Registry


def trainable_names(model: nn.Module) -> list[str]:
    """Names of the parameters that require grad, in `named_parameters()` order."""
    return [name for name, param in model.named_parameters() if param.requires_grad]


def _flatten(grads: dict[str, torch.Tensor], names: list[str], n: int) -> np.ndarray:
    return torch.cat([grads[name].reshape(n, -1) for name in names], dim=1).float().cpu().numpy()


def _loop_chunk(model: nn.Module, batch: TokenBatch, names: list[str]) -> np.ndarray:
    named = dict(model.named_parameters())
    params = [named[name] for name in names]
    rows = []
    for row in range(len(batch)):
        one = batch.rows(slice(row, row + 1))
        loss = sequence_losses(forward_logits(model, one), one.input_ids, one.attention_mask)[0]
        rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]).float().cpu().numpy())
    return np.stack(rows)


def _vmap_chunk(model: nn.Module, batch: TokenBatch, names: list[str]) -> np.ndarray:
    params, constants = split_parameters(model, names)

    def text_loss(trainable: dict[str, torch.Tensor], ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, {**constants, **trainable}, args=(),
                                 kwargs={"input_ids": ids[None], "attention_mask": mask[None], "use_cache": False}
                                 ).logits
        return sequence_losses(logits, ids[None], mask[None])[0]

    grads = vmap(grad(text_loss), in_dims=(None, 0, 0))(params, batch.input_ids, batch.attention_mask)
    return _flatten(grads, names, len(batch))


def _linear_owners(model: nn.Module, names: list[str]) -> dict[str, tuple[nn.Linear, str]] | None:
    """parameter name → (the nn.Linear owning it, 'weight' | 'bias'), or None if some parameter is not a Linear's."""
    owners: dict[str, tuple[nn.Linear, str]] = {}
    modules = dict(model.named_modules())
    for name in names:
        module_name, _, attr = name.rpartition(".")
        module = modules.get(module_name)
        if not isinstance(module, nn.Linear) or attr not in ("weight", "bias"):
            return None
        owners[name] = (module, attr)
    return owners


def linear_hook_gradients(model: nn.Module, names: list[str], losses: Callable[[], torch.Tensor]) -> np.ndarray:
    """(b, P) float32 per-sample gradients of `names` (every one the weight or bias of an nn.Linear) from one
    batched backward pass of `losses()`, the (b,) per-sample losses of one forward pass.

    Hooks capture each Linear layer's inputs x and output gradients δ; sample b's weight gradient
    is Σ_t δ_bt x_btᵀ over its positions t (a text's tokens; one position for a 2-D input). Valid
    when samples do not interact in the forward pass (no batch statistics, no cross-sample
    attention): true of eval-mode transformers, causal or bidirectional, on padded batches.
    """
    owners = _linear_owners(model, names)
    if owners is None:
        raise ConfigError("gradient method 'hooks' needs every trainable parameter to belong to an nn.Linear; "
                          "use 'vmap' or 'loop'")
    layers = {id(module): module for module, _ in owners.values()}
    inputs: dict[int, torch.Tensor] = {}
    output_grads: dict[int, torch.Tensor] = {}
    handles = []

    def forward_hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        inputs[id(module)] = args[0].detach()

        def keep(gradient: torch.Tensor, key: int = id(module)) -> None:
            output_grads[key] = gradient.detach()

        output.register_hook(keep)

    try:
        for module in layers.values():
            handles.append(module.register_forward_hook(forward_hook))
        named = dict(model.named_parameters())
        per_sample = losses()
        torch.autograd.grad(per_sample.sum(), [named[name] for name in names])
    finally:
        for handle in handles:
            handle.remove()
    n = len(per_sample)
    grads = {}
    for name, (module, attr) in owners.items():
        delta = output_grads[id(module)].reshape(n, -1, module.out_features)
        if attr == "weight":
            x = inputs[id(module)].reshape(n, -1, module.in_features)
            grads[name] = torch.einsum("bto,bti->boi", delta, x)
        else:
            grads[name] = delta.sum(dim=1)
    return _flatten(grads, names, n)


def _hooks_chunk(model: nn.Module, batch: TokenBatch, names: list[str]) -> np.ndarray:
    return linear_hook_gradients(model, names, lambda: sequence_losses(forward_logits(model, batch), batch.input_ids,
                                                                      batch.attention_mask))


LM_GRADIENT_METHODS = Registry("gradient method")
"""Per-sample gradient method → chunk function(model, batch, names) -> (b, P) float32."""
LM_GRADIENT_METHODS.add("hooks", "Linear-layer hooks on one batched backward pass (fast)", _hooks_chunk)
LM_GRADIENT_METHODS.add("vmap", "torch.func vmap(grad) over functional_call", _vmap_chunk)
LM_GRADIENT_METHODS.add("loop", "one autograd backward pass per text (reference)", _loop_chunk)


@dataclass
class LMGradients:
    """Per-text gradients of the trainable (LoRA) parameters."""

    matrix: np.ndarray
    """(n, width) float32: one row per text; projected when `projector` is set."""
    param_names: list[str]
    block_sizes: dict[str, int] | None
    """Parameter name → column count, in column order (for DataInf's per-layer blocks); None when projected."""
    raw_width: int
    projector: str | None


def iter_gradient_chunks(model: nn.Module, batch: TokenBatch, *, method: str = "auto", chunk_size: int = 32
                         ) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (start, (b, P) float32 per-text gradients) for texts start:start+b of `batch`, in eval mode.

    method: 'hooks', 'vmap', 'loop', or 'auto' (hooks when every trainable parameter is a
    Linear's weight or bias, else vmap).
    """
    names = trainable_names(model)
    if not names:
        raise ConfigError("the model has no trainable parameters to take gradients of")
    if method == "auto":
        method = "hooks" if _linear_owners(model, names) is not None else "vmap"
    chunk = LM_GRADIENT_METHODS.get(method)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(batch), chunk_size):
            yield start, chunk(model, batch.rows(slice(start, start + chunk_size)), names)
    finally:
        model.train(was_training)


def per_sample_gradients(model: nn.Module, batch: TokenBatch, *, projector: Projector | None = None,
                         method: str = "auto", chunk_size: int = 32) -> LMGradients:
    """(n, width) per-text gradients of the trainable parameters, projected chunk by chunk when `projector` is given.

    The full (n, P) matrix never exists when projecting: each chunk of at most
    `chunk_size` rows is projected as soon as it is computed.
    """
    names = trainable_names(model)
    named = dict(model.named_parameters())
    sizes = {name: int(named[name].numel()) for name in names}
    raw_width = sum(sizes.values())
    width = projector.out_dim if projector is not None else raw_width
    if projector is not None and projector.in_dim != raw_width:
        raise ConfigError(f"projector expects width {projector.in_dim}, the trainable parameters have {raw_width}")
    out = np.zeros((len(batch), width), np.float32)
    for start, chunk in iter_gradient_chunks(model, batch, method=method, chunk_size=chunk_size):
        out[start:start + len(chunk)] = projector.project(chunk) if projector is not None else chunk
    return LMGradients(matrix=out, param_names=names, block_sizes=None if projector is not None else sizes,
                       raw_width=raw_width, projector=type(projector).__name__ if projector is not None else None)
