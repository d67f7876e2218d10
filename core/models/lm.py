"""A small causal language model and LoRA fine-tuning (the text benchmarks' models).

Workflow (what `core.protocols.table3` does per benchmark):

1. a tokenizer and a base model: either built here — a byte-pair tokenizer trained on
   the generated text with the `tokenizers` library (`build_tokenizer`) and a tiny GPT-2
   made from its config (`build_tiny_model`), both without any download — or loaded
   from a local Hugging Face directory (`load_local_model`, `local_files_only=True`);
2. the tiny base model is "pretrained" briefly on text of the same kind (a stand-in for
   what a real pretrained model already knows; `train_lm` on all parameters);
3. LoRA adapters (`add_lora`, Hugging Face `peft`) are fine-tuned on the benchmark's
   training texts (`train_lm` on the adapter parameters only);
4. per-sample gradients of the LoRA parameters: core.gradients.lm.

The loss of a text is its mean next-token negative log-likelihood over the whole text
(prompt and answer) plus the end-of-text token, as in DataInf's fine-tuning. Texts are
right-padded; padded positions are masked out of attention and of the loss.
"""

from __future__ import annotations

import copy
import string
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import ConfigError

try:  # the [text] extra
    from peft import LoraConfig, PeftModel, get_peft_model
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedModel,
        PreTrainedTokenizerBase,
        PreTrainedTokenizerFast,
    )
    from transformers.utils import logging as hf_logging
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError(f"the text benchmarks need the [text] extra ({exc.name} is missing): "
                      "pip install 'gradsift[text]' (peft)") from exc

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

SPECIAL_TOKENS = ("<pad>", "<eos>", "<unk>")
_PRETOKENIZE = r"\s*[A-Za-z*]+|\s*[0-9]|\s*[^A-Za-z0-9*\s]|\s+"
"""Words (with their leading space) stay whole candidates for merges; every digit is its own piece."""

ProgressFn = Callable[[str], None]


# --------------------------------------------------------------------------- tokenizer and models


def build_tokenizer(texts: list[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """A byte-pair tokenizer trained on `texts` (deterministic), as a Hugging Face fast tokenizer.

    The base alphabet is printable ASCII, so unseen text still encodes (character by
    character); digits are never merged, so numbers are spelled digit by digit. Special
    tokens: <pad> (id 0), <eos> (1), <unk> (2). `save_pretrained` / `AutoTokenizer`
    round-trip it.
    """
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(_PRETOKENIZE), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=list(string.printable), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")


@dataclass(frozen=True)
class TinyLMConfig:
    """Sizes of the GPT-2 built from its config (no download)."""

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 2
    max_length: int = 128
    """Positions of the model; texts are truncated to this many tokens."""
    vocab_size: int = 512
    """Target size of the byte-pair vocabulary trained on the generated text."""

    def __post_init__(self) -> None:
        if min(self.n_layer, self.n_embd, self.n_head, self.max_length) < 1 or self.n_embd % self.n_head:
            raise ConfigError(f"tiny LM sizes must be positive and n_embd divisible by n_head; got {self}")
        if self.vocab_size < len(string.printable) + len(SPECIAL_TOKENS):
            raise ConfigError(f"vocab_size must be at least {len(string.printable) + len(SPECIAL_TOKENS)} "
                              f"(the ASCII alphabet and special tokens), got {self.vocab_size}")


def build_tiny_model(tokenizer: PreTrainedTokenizerBase, config: TinyLMConfig, seed: int) -> GPT2LMHeadModel:
    """A randomly initialized (seeded) GPT-2 of `config`'s sizes for `tokenizer`'s vocabulary, eager attention."""
    torch.manual_seed(seed)
    gpt2_config = GPT2Config(vocab_size=len(tokenizer), n_positions=config.max_length, n_embd=config.n_embd,
                             n_layer=config.n_layer, n_head=config.n_head, bos_token_id=tokenizer.eos_token_id,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    gpt2_config._attn_implementation = "eager"
    return GPT2LMHeadModel(gpt2_config)


def model_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, cap: int) -> int:
    """Tokens a text may have: `cap`, lowered to the model's position count and the tokenizer's limit when smaller."""
    limits = [cap, getattr(tokenizer, "model_max_length", None) or cap]
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(model.config, key, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
    return int(min(limit for limit in limits if isinstance(limit, int)))


def load_local_model(path: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM and its tokenizer from a local Hugging Face directory (config, weights, tokenizer files).

    Loaded with `local_files_only=True` (never downloads) in float32 on the CPU; a
    tokenizer without a pad token pads with its end-of-text token. Anything unreadable
    is a ConfigError naming the directory.
    """
    path = Path(path)
    if not (path / "config.json").exists():
        raise ConfigError(f"--model-path {path}: no config.json there; expected a Hugging Face model directory "
                          "(config, weights and tokenizer files, e.g. written by save_pretrained)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"--model-path {path}: cannot load a causal LM and tokenizer ({exc})") from exc
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ConfigError(f"--model-path {path}: the tokenizer has neither a pad nor an end-of-text token")
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


# --------------------------------------------------------------------------- data


@dataclass
class TokenBatch:
    """Right-padded token ids of n texts."""

    input_ids: torch.Tensor
    """(n, L) int64, end-of-text token appended, padded with the pad id."""
    attention_mask: torch.Tensor
    """(n, L) int64, 1 on real tokens."""

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def rows(self, index: slice | torch.Tensor) -> TokenBatch:
        """The selected texts, trimmed to their longest length."""
        ids, mask = self.input_ids[index], self.attention_mask[index]
        length = max(int(mask.sum(dim=1).max()), 1) if len(mask) else 1
        return TokenBatch(ids[:, :length], mask[:, :length])


def encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int) -> TokenBatch:
    """Tokenize texts (no special tokens added by the tokenizer), append end-of-text, truncate, right-pad."""
    eos = tokenizer.eos_token_id
    sequences = []
    for text in texts:
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        sequences.append((ids + ([eos] if eos is not None else []))[:max_length])
    length = max((len(s) for s in sequences), default=1)
    input_ids = torch.full((len(texts), length), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(texts), length), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, :len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, :len(ids)] = 1
    return TokenBatch(input_ids, attention_mask)


def sequence_losses(logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(b,) mean next-token negative log-likelihood of each text over its real tokens.

    logits (b, L, V), input_ids and attention_mask (b, L); position t predicts token t+1.
    """
    nll = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), input_ids[:, 1:], reduction="none")
    weights = attention_mask[:, 1:].to(nll.dtype)
    return (nll * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def forward_logits(model: nn.Module, batch: TokenBatch) -> torch.Tensor:
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits


def mean_loss(model: nn.Module, batch: TokenBatch, batch_size: int = 64) -> float:
    """Mean per-text loss of `batch` in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(batch), batch_size):
            part = batch.rows(slice(start, start + batch_size))
            total += float(sequence_losses(forward_logits(model, part), part.input_ids, part.attention_mask).sum())
    model.train(was_training)
    return total / max(len(batch), 1)


# --------------------------------------------------------------------------- training


def train_lm(model: nn.Module, batch: TokenBatch, *, epochs: int, lr: float, batch_size: int = 32, seed: int = 0,
             progress: ProgressFn | None = None, description: str = "train") -> list[float]:
    """AdamW on the parameters that require grad, minimizing the mean per-text loss; returns each epoch's mean loss.

    Seeded shuffling; the model is left in eval mode.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    model.train()
    history = []
    for epoch in range(epochs):
        order = torch.randperm(len(batch), generator=generator)
        total = 0.0
        for start in range(0, len(batch), batch_size):
            part = batch.rows(order[start:start + batch_size])
            loss = sequence_losses(forward_logits(model, part), part.input_ids, part.attention_mask).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(part)
        history.append(total / len(batch))
        if progress is not None:
            progress(f"{description}: epoch {epoch + 1}/{epochs}, loss {history[-1]:.3f}")
    model.eval()
    return history


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings (the paper's Llama-2 run: rank 8, alpha 32, dropout 0.05, on the attention)."""

    rank: int = 8
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None
    """Module names to adapt; None = peft's default for the model type (GPT-2: c_attn; Llama: q_proj, v_proj),
    else every attention Linear."""

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise ConfigError(f"LoRA needs rank >= 1, alpha > 0, dropout in [0, 1); got {self}")


def _attention_linears(model: nn.Module) -> list[str]:
    names = set()
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if ("attn" in name or "attention" in name) and (isinstance(module, nn.Linear)
                                                        or type(module).__name__ == "Conv1D"):
            names.add(leaf)
    return sorted(names)


def add_lora(model: PreTrainedModel, settings: LoraSettings, seed: int) -> PeftModel:
    """A deep copy of `model` with seeded LoRA adapters; only the adapter weights are trainable."""
    torch.manual_seed(seed)
    base = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls transformers APIs deprecated for v6
        return _wrap_lora(base, settings)


def _wrap_lora(base: PreTrainedModel, settings: LoraSettings) -> PeftModel:
    targets = list(settings.target_modules) if settings.target_modules else None
    fan_in_fan_out = getattr(base.config, "model_type", "") == "gpt2"
    try:
        config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                            target_modules=targets, fan_in_fan_out=fan_in_fan_out)
        return get_peft_model(base, config)
    except ValueError as exc:
        if targets is not None:
            raise ConfigError(f"cannot put LoRA adapters on modules {targets}: {exc}") from exc
    targets = _attention_linears(base)
    if not targets:
        raise ConfigError(f"cannot tell where to put LoRA adapters in a {type(base).__name__}; "
                          "no attention Linear layers found")
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=targets, fan_in_fan_out=fan_in_fan_out)
    return get_peft_model(base, config)


# --------------------------------------------------------------------------- per-sample gradients
