"""Row-chunked helpers the influence methods share: input checks, float64 chunks, G @ v.

Gradient matrices may be float32 or memory-mapped; work is done `chunk_rows` rows at a
time in float64 so the whole matrix is never copied.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.errors import ConfigError, DataError

DEFAULT_CHUNK_ROWS = 4096
"""Rows of the (n, p) gradient matrix converted to float64 at a time."""


def check_grads(train_grads: np.ndarray) -> np.ndarray:
    if not hasattr(train_grads, "shape") or len(train_grads.shape) != 2:
        raise DataError(f"train_grads must be an (n, p) array, got shape {getattr(train_grads, 'shape', None)}")
    return train_grads


def check_val(val_grad: np.ndarray, p: int) -> np.ndarray:
    val = np.asarray(val_grad, dtype=np.float64)
    if val.shape != (p,):
        raise DataError(f"val_grad must have shape ({p},) to match train_grads (n, {p}), got {val.shape}")
    return val


def chunks(grads: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (start, float64 chunk) over the rows, so float32 / memmapped inputs are never copied whole."""
    for start in range(0, grads.shape[0], chunk_rows):
        yield start, np.asarray(grads[start:start + chunk_rows], dtype=np.float64)


def rowwise_dot(grads: np.ndarray, vector: np.ndarray, chunk_rows: int) -> np.ndarray:
    """(n,) float64 G @ vector, chunked."""
    out = np.empty(grads.shape[0])
    for start, chunk in chunks(grads, chunk_rows):
        out[start:start + len(chunk)] = chunk @ vector
    return out


def check_nonneg(name: str, value: float) -> float:
    if not np.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def fill_info(info: dict | None, **values) -> None:
    if info is not None:
        info.update(values)
