"""Cached text embeddings, keyed by (encoder content hash, max length, pooling, the texts): re-runs skip the encoder.

One `.npz` per key under `$GRADSIFT_CACHE_DIR/embeddings/` (default `$XDG_CACHE_HOME/gradsift`,
else `~/.cache/gradsift`), holding `embeddings` (n, D) float32 and `token_lengths` (n,) int64
(tokens before truncation). Written atomically; an unreadable or mismatched file is ignored
and rewritten, never trusted. The key covers everything an embedding depends on except the
device's float rounding, so a cached file is what the same encoder computes for the same texts.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.errors import RunDirError
from core.models.encoder import EncoderInfo
from core.run.io import atomic_write

CACHE_VERSION = 1


def cache_root() -> Path:
    """$GRADSIFT_CACHE_DIR, else $XDG_CACHE_HOME/gradsift, else ~/.cache/gradsift."""
    explicit = os.environ.get("GRADSIFT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradsift"


def cache_key(info: EncoderInfo, texts: Sequence[str]) -> str:
    """Hex digest over the encoder's identity (hash, max length, pooling, normalization) and every text, in order."""
    digest = hashlib.sha256()
    identity = {key: value for key, value in asdict(info).items() if key not in ("name", "path")}
    digest.update(json.dumps({"version": CACHE_VERSION, **identity}, sort_keys=True).encode())
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()[:40]


def cache_path(info: EncoderInfo, texts: Sequence[str]) -> Path:
    return cache_root() / "embeddings" / f"{cache_key(info, texts)}.npz"


def read_cached(path: Path, n: int, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(embeddings (n, dim) float32, token_lengths (n,) int64) from `path`, or None when absent or not matching."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            embeddings = np.asarray(archive["embeddings"], dtype=np.float32)
            lengths = np.asarray(archive["token_lengths"], dtype=np.int64)
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if embeddings.shape != (n, dim) or lengths.shape != (n,) or not np.isfinite(embeddings).all():
        return None
    return embeddings, lengths


def write_cached(path: Path, embeddings: np.ndarray, token_lengths: np.ndarray) -> bool:
    """Store the arrays atomically; False (nothing raised) when the cache folder is not writable."""
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=embeddings.astype(np.float32), token_lengths=token_lengths.astype(np.int64))
    try:
        atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
    except (OSError, RunDirError):  # a read-only cache must not fail the analysis
        return False
    return True
