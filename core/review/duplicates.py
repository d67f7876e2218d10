"""Near-duplicates with conflicting labels: pairs of training samples that sit next to each other in the
model's feature space but carry different given labels (of any task kind: core.run.label_forms).

Two samples whose penultimate features (a run's features.npy) are nearly the same look alike to the
model; when their given labels differ, at least one of the two labels is probably wrong (or the classes
really overlap there). Listing such pairs next to the flagged set gives a reviewer a second, cheap kind
of evidence, and one that a per-sample score cannot show: the sample to compare with.

How pairs are found (exact, no index structure):

1. every query row's `neighbors` nearest rows by `metric` (cosine: 1 − cosine similarity; euclidean),
   brute force over (query chunk × all rows) blocks in float32, so memory is chunk × n floats;
2. a pair (i, j) is kept when j is among i's neighbours (or i among j's) and the given labels differ by the
   task's label form (`LabelForm.differ`): another class; another tag set (multi-label); for values (regression),
   more than the form's `tolerance` apart, the tolerance within which the team consensus counts two values as
   agreeing (TOLERANCE_FRACTION × the target's robust scale);
3. only pairs closer than the `distance_quantile` of every query row's nearest-neighbour distance are
   kept: "near" is relative to how close samples of this run usually are.

Queries are every row up to `max_queries`; above that, a seeded subsample of them (each still matched
against every row), so a million-row run costs max_queries × n × D, not n² × D.
Nothing here reads the true labels; `pair_truth` measures the pairs against them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.review.registry import NEIGHBOR_METRICS as METRICS
from core.run import schema
from core.run.io import release_pages
from core.run.label_forms import ClassForm, LabelForm

QUERY_CHUNK = 512
INDEX_CHUNK = 8192
"""Blocks of query × index rows: 512 × 8192 float32 distances (16 MB) at a time."""

PAIR_COLUMNS = schema.CONFLICT_COLUMNS
SAMPLE_A, SAMPLE_B, DISTANCE, GIVEN_A, GIVEN_B, NEIGHBOR_RANK, MUTUAL = PAIR_COLUMNS
"""Columns of a pairs frame: the two sample ids (a < b), their distance, their given labels, the best rank
of either in the other's neighbour list (1 = nearest), whether each is among the other's neighbours."""


def _row_norms(features: np.ndarray) -> np.ndarray:
    norms = np.empty(len(features), np.float32)
    for start in range(0, len(features), INDEX_CHUNK):
        block = np.asarray(features[start:start + INDEX_CHUNK], dtype=np.float32)
        norms[start:start + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
        release_pages(features)
    return norms


def nearest_rows(features: np.ndarray, queries: np.ndarray, neighbors: int, metric: str = "cosine",
                 progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances), each (len(queries), neighbors): every query row's nearest rows of `features`, nearest
    first, itself excluded, ties by the smaller id. features (n, D); queries (q,) row indices."""
    if metric not in METRICS:
        raise ConfigError(f"unknown neighbour metric {metric!r}; valid: {', '.join(METRICS)}")
    n = len(features)
    neighbors = int(min(neighbors, n - 1))
    if neighbors < 1:
        raise ConfigError(f"finding near-duplicates needs at least 2 samples, got {n}")
    queries = np.asarray(queries, dtype=np.int64)
    norms = _row_norms(features)
    safe_norms = np.where(norms > 0, norms, 1.0)
    out_ids = np.empty((len(queries), neighbors), np.int64)
    out_dist = np.empty((len(queries), neighbors), np.float32)
    for start in range(0, len(queries), QUERY_CHUNK):
        rows = queries[start:start + QUERY_CHUNK]
        query = np.asarray(features[rows], dtype=np.float32)
        best_ids = np.zeros((len(rows), 0), np.int64)
        best_dist = np.zeros((len(rows), 0), np.float32)
        for index_start in range(0, n, INDEX_CHUNK):
            block = np.asarray(features[index_start:index_start + INDEX_CHUNK], dtype=np.float32)
            dots = query @ block.T
            block_norms = norms[index_start:index_start + len(block)]
            if metric == "cosine":
                distance = 1.0 - dots / (safe_norms[rows][:, None] * np.where(block_norms > 0, block_norms, 1.0))
                distance[:, block_norms == 0] = 1.0
                distance[norms[rows] == 0] = 1.0
            else:
                distance = np.sqrt(np.maximum(norms[rows][:, None] ** 2 + block_norms ** 2 - 2 * dots, 0.0))
            inside = np.flatnonzero((rows >= index_start) & (rows < index_start + len(block)))
            distance[inside, rows[inside] - index_start] = np.inf  # a row is not its own neighbour
            take = min(neighbors, len(block))
            nearest = np.argpartition(distance, take - 1, axis=1)[:, :take] if take < len(block) else \
                np.broadcast_to(np.arange(len(block)), distance.shape)
            best_ids = np.concatenate([best_ids, nearest + index_start], axis=1)
            best_dist = np.concatenate([best_dist, np.take_along_axis(distance, nearest, axis=1)], axis=1)
            keep = np.lexsort((best_ids, best_dist), axis=1)[:, :neighbors]
            best_ids = np.take_along_axis(best_ids, keep, axis=1)
            best_dist = np.take_along_axis(best_dist, keep, axis=1)
        release_pages(features)
        out_ids[start:start + len(rows)] = best_ids
        out_dist[start:start + len(rows)] = best_dist
        if progress is not None:
            progress(start + len(rows), len(queries))
    return out_ids, out_dist


def query_rows(n: int, max_queries: int, seed: int, always: np.ndarray | None = None) -> np.ndarray:
    """(q,) sorted rows whose neighbours are searched: all n when n ≤ max_queries, else `always` (the flagged
    samples, say) plus a seeded subsample up to max_queries."""
    if n <= max_queries:
        return np.arange(n, dtype=np.int64)
    chosen = np.unique(np.asarray(always if always is not None else [], dtype=np.int64))[:max_queries]
    rest = np.setdiff1d(np.arange(n), chosen)
    extra = np.random.default_rng([seed, 23]).choice(rest, size=max_queries - len(chosen), replace=False)
    return np.sort(np.concatenate([chosen, extra]))


def _label_array(given_labels) -> np.ndarray:
    """(n,) labels indexable by row arrays: a numeric array as it is, tag tuples as an object array."""
    if isinstance(given_labels, np.ndarray) and given_labels.ndim == 1:
        return given_labels
    out = np.empty(len(given_labels), object)
    for row, label in enumerate(given_labels):  # element by element: equal-length tuples must not become a 2-D array
        out[row] = label
    return out


def _stored(form: LabelForm, labels: np.ndarray, rows: np.ndarray) -> np.ndarray | list:
    """The given labels of `rows` as the given_a / given_b columns hold them: classes int64 and values float64 as
    they are, tag sets as the review store's JSON text (`LabelForm.encode`: "[1, 3]"; `decode` reads it back)."""
    chosen = labels[rows]
    return chosen if chosen.dtype != object else [form.encode(label) for label in chosen]


def conflicting_pairs(features: np.ndarray, given_labels, *, form: LabelForm | None = None, neighbors: int = 5,
                      metric: str = "cosine", distance_quantile: float = 0.5, max_queries: int = 50_000,
                      seed: int = 0, always_query: np.ndarray | None = None,
                      progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Pairs of near samples whose given labels differ, closest first, and the facts of the search.

    features (n, D) float (a memory map is read in chunks); given_labels (n,) in the canonical form of `form`
    (core.run.label_forms: class ints, the default; tag tuples; float values), whose `differ` decides a conflict.
    A pair is kept when one is among the other's `neighbors` nearest, their labels differ and their distance is
    at most the `distance_quantile` of the queries' nearest-neighbour distances (1.0 keeps every conflicting
    neighbour pair). Returns (frame with `PAIR_COLUMNS`, {"threshold", "n_queries", ...}).
    """
    form = form or ClassForm()
    labels = np.asarray(given_labels, dtype=np.int64) if isinstance(form, ClassForm) else _label_array(given_labels)
    if len(labels) != len(features):
        raise ConfigError(f"{len(labels)} given labels for {len(features)} feature rows")
    if not 0 < distance_quantile <= 1:
        raise ConfigError(f"distance_quantile must be in (0, 1], got {distance_quantile}")
    if neighbors < 1 or max_queries < 1:
        raise ConfigError(f"neighbors and max_queries must be >= 1, got {neighbors} and {max_queries}")
    queries = query_rows(len(labels), max_queries, seed, always_query)
    ids, distances = nearest_rows(features, queries, neighbors, metric, progress)
    threshold = float(np.quantile(distances[:, 0], distance_quantile))
    rank = np.broadcast_to(np.arange(1, ids.shape[1] + 1), ids.shape)
    source = np.broadcast_to(queries[:, None], ids.shape)
    near = np.flatnonzero(distances.reshape(-1) <= threshold)  # the label test runs on the near candidates only
    conflict = np.zeros(ids.size, bool)
    conflict[near] = form.differ(labels[source.reshape(-1)[near]], labels[ids.reshape(-1)[near]])
    conflict = conflict.reshape(ids.shape)
    a, b = source[conflict], ids[conflict]
    frame = pd.DataFrame({SAMPLE_A: np.minimum(a, b), SAMPLE_B: np.maximum(a, b),
                          DISTANCE: distances[conflict].astype(np.float64), NEIGHBOR_RANK: rank[conflict]})
    grouped = frame.groupby([SAMPLE_A, SAMPLE_B], sort=False)
    pairs = grouped.agg(**{DISTANCE: (DISTANCE, "min"), NEIGHBOR_RANK: (NEIGHBOR_RANK, "min"),
                           MUTUAL: (NEIGHBOR_RANK, "size")}).reset_index()
    pairs[MUTUAL] = pairs[MUTUAL].to_numpy() > 1
    pairs[GIVEN_A] = _stored(form, labels, pairs[SAMPLE_A].to_numpy())
    pairs[GIVEN_B] = _stored(form, labels, pairs[SAMPLE_B].to_numpy())
    pairs = pairs.sort_values([DISTANCE, SAMPLE_A, SAMPLE_B], kind="stable").reset_index(drop=True)
    facts = {"metric": metric, "neighbors": int(ids.shape[1]), "distance_quantile": float(distance_quantile),
             "threshold": threshold, "n_queries": int(len(queries)), "n_samples": int(len(labels)),
             "max_queries": int(max_queries), "seed": int(seed)}
    return pairs[list(PAIR_COLUMNS)].astype({NEIGHBOR_RANK: np.int64}), facts


def pair_truth(pairs: pd.DataFrame, is_noisy: np.ndarray, scores: np.ndarray | None = None) -> dict[str, float]:
    """How the pairs fare against the truth (measurement only): the share with at least one truly noisy
    member (samples.parquet's is_noisy, which every task kind holds: a wrong class, tag set or value), and, given
    a score (higher = more suspicious), the share whose higher-scored member is noisy among pairs with exactly one
    noisy member."""
    noisy = np.asarray(is_noisy, dtype=bool)
    a, b = pairs[SAMPLE_A].to_numpy(), pairs[SAMPLE_B].to_numpy()
    out = {"n_pairs": float(len(pairs)), "with_noisy": float(np.mean(noisy[a] | noisy[b])) if len(pairs) else np.nan,
           "samples": float(len(np.union1d(a, b)))}
    if scores is not None:
        one = noisy[a] != noisy[b]
        suspect = np.where(scores[a] >= scores[b], a, b)
        out["suspect_is_noisy"] = float(np.mean(noisy[suspect[one]])) if one.any() else np.nan
    return out
