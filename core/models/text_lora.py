"""`text_lora`: a text encoder fine-tuned with LoRA adapters under a softmax classification head.

The model is a `FeatureModel` like every other: its backbone is the run's encoder (`data.encoder`,
default the packaged all-MiniLM-L6-v2) with Hugging Face `peft` LoRA adapters on its attention
projections (rank `train.lora_rank`, alpha `train.lora_alpha`; peft's default targets, `query` and
`value` for BERT), mean-pooled like the frozen embeddings (core.models.encoder.pool), and the head a
`nn.Linear`. Only the adapters and the head train. Inputs are token ids, not embeddings: for this
model a text dataset's `x_train` / `x_test` hold int64 (n, 2, L) arrays, row i = [input ids,
attention mask] of text i (`token_inputs`), so training, the stored features, probe retraining and
full retraining all run through the usual code.

Per-sample gradients: the closed-form last-layer gradients by default (from the stored features,
as for any model), or, with `--layers all` (or a parameter prefix such as `backbone`), the
gradients of the LoRA parameters (and the head) under each sample's own cross-entropy, from
Linear-layer hooks on one batched backward pass (core.gradients.lm.linear_hook_gradients; tested
against a batch-size-1 loop), projected like every wide gradient.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.errors import ConfigError
from core.models.encoder import EncoderInfo, encoder_info, pool
from core.models.nets import FeatureModel

LORA_DROPOUT = 0.05


class LoraEncoder(nn.Module):
    """peft-wrapped encoder + mean pooling: (b, 2, L) int64 [ids; mask] -> (b, hidden) float32."""

    def __init__(self, info: EncoderInfo, rank: int, alpha: float, seed: int = 0) -> None:
        super().__init__()
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        from core.models.lm import LoraSettings, add_lora  # the [text] extra (peft)

        hf_logging.set_verbosity_error()
        base = AutoModel.from_pretrained(info.path, local_files_only=True, dtype=torch.float32)
        self.encoder = add_lora(base, LoraSettings(rank=rank, alpha=alpha, dropout=LORA_DROPOUT), seed)
        self.normalize = info.normalize

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        ids, mask = tokens[:, 0], tokens[:, 1]
        length = max(int(mask.sum(dim=1).max()), 1) if len(mask) else 1
        ids, mask = ids[:, :length], mask[:, :length]
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return pool(hidden, mask, self.normalize)


class LoraTextModel(FeatureModel):
    """A FeatureModel on token ids: no input standardization (ids are not features)."""

    forward_batch = 64

    def set_input_stats(self, x: torch.Tensor) -> None:
        return None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x.long())

    def per_sample_gradients(self, x: np.ndarray, labels: np.ndarray, names: list[str],
                             chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yields (start, (b, P) float32) gradients of each sample's own cross-entropy w.r.t. `names`
        (parameters owned by nn.Linear layers: LoRA's A and B, the head), in eval mode."""
        from core.gradients.lm import linear_hook_gradients

        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(x), chunk_size):
                tokens = torch.as_tensor(np.asarray(x[start:start + chunk_size]), device=device)
                target = torch.as_tensor(np.asarray(labels[start:start + chunk_size]), device=device)
                yield start, linear_hook_gradients(
                    self, names, lambda tokens=tokens, target=target: F.cross_entropy(
                        self(tokens).float(), target, reduction="none"))
        finally:
            self.train(was_training)


def build_text_lora(input_shape: tuple[int, ...], n_classes: int, weights: dict | None) -> LoraTextModel:
    """The LoRA text classifier; `weights` = {"encoder": folder or None (the packaged default), "max_length",
    "rank", "alpha"} (core.models.training.starting_weights builds it from the run's dataset and config)."""
    if not isinstance(weights, dict) or "rank" not in weights:
        raise ConfigError("text_lora fine-tunes a text encoder: it needs a text dataset (a manifest with a "
                          "'text' column, or intents)")
    if len(input_shape) != 2 or input_shape[0] != 2:
        raise ConfigError(f"text_lora takes token ids (2, L) per sample, got inputs of shape {tuple(input_shape)}")
    info = encoder_info(weights.get("encoder"), weights.get("max_length"))
    backbone = LoraEncoder(info, int(weights["rank"]), float(weights["alpha"]))
    return LoraTextModel(backbone, info.dim, n_classes)
