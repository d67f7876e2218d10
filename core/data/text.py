"""Text datasets: texts and labels in, a frozen encoder's embeddings as the inputs, the texts kept alongside.

Every text source (a manifest with a `text` column, GLUE TSV files, the generated `intents`
demo) ends here: `text_dataset` checks the texts (`check_texts`: strings, not empty), embeds
train and test texts with the configured encoder (core.models.encoder; `data.encoder`, default
the packaged all-MiniLM-L6-v2), truncating at `data.text_max_length` tokens (at most the
encoder's own maximum), and returns a TEXT `Dataset` whose `x_train` / `x_test` are float32
(n, D) embeddings. Embeddings are cached by (encoder hash, max length, texts)
(core.data.embedding_cache), so a second analysis of the same texts does not run the encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.config import DataConfig
from core.data.base import TEXT, Dataset
from core.data.embedding_cache import cache_path, read_cached, write_cached
from core.data.task_labels import listing
from core.errors import DataError
from core.models.encoder import EncoderInfo, TextEncoder, encoder_info


def check_texts(values: Sequence[object], where: str, column: str = "text") -> list[str]:
    """The cells of a text column as a list of str; DataError naming `where`, the column and the first
    offending rows (0-based) when a cell is missing (None, NaN), not a string (a number) or empty."""
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise DataError(f"{where}: column {column!r} has {len(missing)} missing texts, in rows {listing(missing)}")
    not_strings = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if not_strings:
        first = values[not_strings[0]]
        raise DataError(f"{where}: column {column!r} must hold text; rows {listing(not_strings)} hold non-string "
                        f"values (row {not_strings[0]}: {first!r})")
    empty = [i for i, v in enumerate(values) if not v.strip()]
    if empty:
        raise DataError(f"{where}: column {column!r} has {len(empty)} empty texts, in rows {listing(empty)}")
    return list(values)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def embed_texts(texts: list[str], info: EncoderInfo, *, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
    """(embeddings (n, D) float32, token lengths before truncation (n,) int64, whether they came from the cache).

    Each distinct text is embedded once; the cache holds the distinct texts in sorted order, so another
    split (another order) of the same texts is a cache hit.
    """
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    unique = [str(text) for text in unique]
    path = cache_path(info, unique)
    cached = read_cached(path, len(unique), info.dim) if use_cache else None
    if cached is not None:
        return cached[0][inverse], cached[1][inverse], True
    from tqdm.auto import tqdm

    encoder = TextEncoder(info, device=_device())
    lengths = np.asarray(encoder.token_lengths(unique), dtype=np.int64)
    with tqdm(total=len(unique), desc=f"embedding texts ({info.name})", unit="text", leave=False) as bar:
        embeddings = encoder.embed(unique, progress=lambda done, total: bar.update(done - bar.n))
    if use_cache:
        write_cached(path, embeddings, lengths)
    return embeddings[inverse], lengths[inverse], False


def text_dataset(name: str, cfg: DataConfig, *, texts_train: list[str], given_train: np.ndarray,
                 texts_test: list[str], y_test: np.ndarray, class_names: list[str],
                 true_train: np.ndarray | None = None, source_train: list[str] | None = None,
                 notes: Sequence[str] = (), test_labels_verified: bool = False,
                 test_split_carved: bool = True, task: str = "classification") -> Dataset:
    """A TEXT `Dataset` of already checked texts and encoded labels: embeds them and notes the truncation."""
    info = encoder_info(cfg.encoder, cfg.text_max_length)
    embeddings, lengths, cached = embed_texts(list(texts_train) + list(texts_test), info)
    n = len(texts_train)
    truncated = int((lengths > info.max_length).sum())
    encoder = {**info.__dict__, "n_truncated": truncated, "n_texts": int(len(lengths)),
               "longest_tokens": int(lengths.max()) if len(lengths) else 0, "from_cache": cached}
    note = (f"embedded {len(lengths)} texts with {info.name} ({info.dim} dims, mean pooling"
            f"{', L2-normalized' if info.normalize else ''}{'; from the embedding cache' if cached else ''}); "
            f"{truncated} text(s) longer than {info.max_length} tokens truncated"
            + (f" (the longest has {encoder['longest_tokens']})" if truncated else ""))
    return Dataset(name=name, kind=TEXT, x_train=embeddings[:n], given_train=np.asarray(given_train),
                   true_train=None if true_train is None else np.asarray(true_train), x_test=embeddings[n:],
                   y_test=np.asarray(y_test), class_names=list(class_names),
                   source_train=list(source_train) if source_train is not None else [f"row {i}" for i in range(n)],
                   default_model="text_probe", notes=[*notes, note], test_labels_verified=test_labels_verified,
                   test_split_carved=test_split_carved, texts_train=list(texts_train), texts_test=list(texts_test),
                   encoder=encoder, task=task)
