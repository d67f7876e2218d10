"""How rows are cut into shards for a cluster, and which rows a fitted detector fits on.

Shard boundaries are multiples of both the forward-pass batch (`FACTOR_BATCH`) and
`GradientConfig.chunk_size` (`alignment_unit`), so every batch a model sees and every
chunk a projector sees is exactly the one a single-process run sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.gradients.rows import FACTOR_BATCH

SHARDS_PER_WORKER = 16
"""Shards per worker thread a cluster run aims for: enough to balance load, few enough to amortize a task."""

MAX_SHARD_UNITS = 16
"""A shard is at most this many alignment units (16 x 1024 rows by default), bounding a task's memory."""


@dataclass(frozen=True)
class Shard:
    """Rows one task handles: a slice of one fold group's rows."""

    group: int
    """Index of the gradient model (fold) whose rows these are."""
    start: int
    """Offset of the first row within the group: a multiple of the alignment unit."""
    rows: np.ndarray
    """(b,) int64 global row indices, in the group's (ascending) order."""


def alignment_unit(chunk_size: int) -> int:
    """Rows a gradient shard starts on a multiple of: lcm(`FACTOR_BATCH`, chunk_size).

    With that, a shard's forward-pass batches and projection chunks are exactly those of the
    whole group processed at once, so sharding cannot change a single number.
    """
    return math.lcm(FACTOR_BATCH, int(chunk_size))


def shard_rows(n_rows: int, unit: int, n_threads: int) -> int:
    """Rows per shard: a multiple of `unit`, about `SHARDS_PER_WORKER` shards per worker thread,
    at most `MAX_SHARD_UNITS` units (bounded task memory) and at least one unit."""
    target = math.ceil(n_rows / max(1, SHARDS_PER_WORKER * n_threads))
    units = min(MAX_SHARD_UNITS, max(1, math.ceil(target / unit)))
    return units * unit


def plan_shards(groups: Sequence[np.ndarray], rows_per_shard: int) -> list[Shard]:
    """Cut each group's (ascending) row indices into consecutive shards of `rows_per_shard` rows."""
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
    return [Shard(group, start, np.asarray(rows[start:start + rows_per_shard], dtype=np.int64))
            for group, rows in enumerate(groups) for start in range(0, len(rows), rows_per_shard)]


def detector_fit_rows(rows: np.ndarray, seed: int, group: int, cap: int) -> np.ndarray:
    """(m,) ascending row indices a fitted detector fits on for one fold group.

    All of `rows` when there are at most `cap` (`DetectConfig.max_fit_samples`); otherwise a
    uniform sample without replacement of `cap` rows, drawn from a generator seeded with
    (seed, group) only, so local and cluster runs fit on the same rows. Up to the cap
    (CIFAR-10's 50,000 training images by default) a detector fits on every row; Isolation
    Forest builds each tree from 256 rows anyway, so a larger pool adds nothing but memory.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) <= cap:
        return rows
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(group)]))
    return np.sort(rng.choice(rows, size=cap, replace=False))
