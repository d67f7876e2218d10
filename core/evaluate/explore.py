"""Read-only analyses of a finished run, for the dashboard and notebooks.

Everything here is vectorized NumPy / scikit-learn over whole columns, sized for runs
of 50,000+ samples, and works on memory-mapped gradient matrices (read in row chunks):

- `gradient_pca`: a 2-D PCA map of the gradient matrix (the alternative to the stored UMAP);
- `nearest_neighbors`: a sample's nearest training samples in gradient space;
- `pr_curve`: precision-recall curve of a score column against known truth, thinned for plotting;
- `rank_correlations`: Spearman rank correlation between score columns;
- `flag_overlap`: how much the flagged sets of two score columns agree (counts, Jaccard);
- `drawn_rows`: which points a map draws when a run is too large to draw whole.

Every score follows the project's direction: higher = more outlying / harmful.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import average_precision_score, precision_recall_curve

from core.detect.flagging import flag
from core.errors import ConfigError

CHUNK_ROWS = 8192
"""Rows of the gradient matrix read at a time: bounds memory on memory-mapped inputs."""
PCA_FIT_ROWS = 20_000
"""PCA is fitted on at most this many (seeded, randomly chosen) rows, then applied to all."""
NEIGHBOR_METRICS = ("cosine", "euclidean")


def drawn_rows(n: int, keep: np.ndarray | None, cap: int, seed: int = 0) -> np.ndarray:
    """(m,) sorted row positions a map of n points draws: all of them up to `cap`; beyond it every
    row of the (n,) bool mask `keep` (flagged, highlighted) plus a seeded uniform sample of the
    others, m = max(cap, keep.sum()). A browser draws a few tens of thousands of WebGL points
    smoothly; a million would send ~100 MB of JSON to every page view."""
    if n <= cap:
        return np.arange(n)
    keep = np.zeros(n, bool) if keep is None else np.asarray(keep, bool)
    kept = np.flatnonzero(keep)
    others = np.flatnonzero(~keep)
    extra = max(cap - len(kept), 0)
    chosen = np.random.default_rng([seed, 13]).choice(others, size=min(extra, len(others)), replace=False)
    return np.sort(np.concatenate([kept, chosen]))


def gradient_pca(gradients: np.ndarray, seed: int = 0, n_components: int = 2) -> np.ndarray:
    """(n, n_components) float32 PCA coordinates of the rows of `gradients` (n, d).

    Columns are standardized first (as `core.evaluate.embedding.embed_2d` does for the stored map)
    so no single gradient coordinate dominates. Fitted on a seeded subsample of at most
    PCA_FIT_ROWS rows (the principal axes of 20,000 rows are as good as of all rows for a
    2-D picture), then every row is projected chunk by chunk.
    """
    n, width = gradients.shape
    if n == 0:
        return np.zeros((0, n_components), np.float32)
    mean, scale = _column_moments(gradients)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=min(n, PCA_FIT_ROWS), replace=False))
    sample = (np.asarray(gradients[fit_rows], dtype=np.float32) - mean) / scale
    components = min(n_components, width, len(fit_rows))
    pca = PCA(n_components=components, svd_solver="randomized" if width > 64 else "full", random_state=seed)
    pca.fit(sample)
    out = np.zeros((n, n_components), np.float32)
    for start in range(0, n, CHUNK_ROWS):
        chunk = (np.asarray(gradients[start:start + CHUNK_ROWS], dtype=np.float32) - mean) / scale
        out[start:start + len(chunk), :components] = pca.transform(chunk)
    return out


def _column_moments(gradients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (1 where constant), accumulated in chunks."""
    n = len(gradients)
    total = np.zeros(gradients.shape[1], np.float64)
    total_sq = np.zeros(gradients.shape[1], np.float64)
    for start in range(0, n, CHUNK_ROWS):
        chunk = np.asarray(gradients[start:start + CHUNK_ROWS], dtype=np.float64)
        total += chunk.sum(axis=0)
        total_sq += np.square(chunk).sum(axis=0)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean ** 2, 0.0))
    return mean.astype(np.float32), np.where(std > 1e-12, std, 1.0).astype(np.float32)


def nearest_neighbors(gradients: np.ndarray, sample_id: int, k: int = 10,
                      metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """The k training samples whose gradients are closest to sample `sample_id`'s.

    Returns (ids (k,) int64, distances (k,) float64), nearest first, the sample itself
    excluded; ties are broken by the smaller sample id. `metric` is `cosine` (1 - cosine
    similarity; a zero gradient is at distance 1 from everything) or `euclidean`.
    Brute force over row chunks: exact, O(n d), and fine on a memory map.
    """
    if metric not in NEIGHBOR_METRICS:
        raise ConfigError(f"unknown neighbour metric {metric!r}; valid: {', '.join(NEIGHBOR_METRICS)}")
    n = len(gradients)
    if not 0 <= sample_id < n:
        raise ConfigError(f"sample id {sample_id} is outside [0, {n})")
    k = max(0, min(k, n - 1))
    query = np.asarray(gradients[sample_id], dtype=np.float64)
    query_norm = np.linalg.norm(query)
    distances = np.empty(n, np.float64)
    for start in range(0, n, CHUNK_ROWS):
        chunk = np.asarray(gradients[start:start + CHUNK_ROWS], dtype=np.float64)
        if metric == "euclidean":
            distances[start:start + len(chunk)] = np.linalg.norm(chunk - query, axis=1)
        else:
            norms = np.linalg.norm(chunk, axis=1) * query_norm
            dots = chunk @ query
            distances[start:start + len(chunk)] = 1.0 - np.divide(dots, norms, out=np.zeros_like(dots),
                                                                  where=norms > 0)
    distances[sample_id] = np.inf
    order = np.lexsort((np.arange(n), distances))[:k]
    return order.astype(np.int64), distances[order]


def pr_curve(scores: np.ndarray, is_noisy: np.ndarray, max_points: int = 400) -> pd.DataFrame:
    """Precision-recall curve of `scores` (higher = more suspicious) against the (n,) bool truth.

    Columns `recall`, `precision`, `threshold` (NaN at the curve's end point), ordered by
    increasing recall, thinned to at most `max_points` rows (end points kept) so a 50,000-
    sample curve plots instantly. Empty when truth has no positive or no negative.
    """
    truth = np.asarray(is_noisy, dtype=bool)
    if truth.all() or not truth.any():
        return pd.DataFrame({"recall": [], "precision": [], "threshold": []})
    clean = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf, neginf=-np.finfo(np.float64).max)
    precision, recall, thresholds = precision_recall_curve(truth, clean)
    frame = pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1],
                          "threshold": np.append(thresholds, np.nan)[::-1]})
    if len(frame) > max_points:
        keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
        frame = frame.iloc[keep]
    return frame.reset_index(drop=True)


def average_precision(scores: np.ndarray, is_noisy: np.ndarray) -> float:
    """Average precision (area under the PR curve); NaN when truth is single-class."""
    truth = np.asarray(is_noisy, dtype=bool)
    if truth.all() or not truth.any():
        return float("nan")
    return float(average_precision_score(truth, np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)))


def rank_correlations(scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Square frame of Spearman rank correlations between every pair of named (n,) score arrays.

    Spearman = Pearson correlation of average ranks (ties share their mean rank); a
    constant column correlates NaN with everything.
    """
    names = list(scores)
    if not names:
        return pd.DataFrame()
    ranks = np.column_stack([pd.Series(np.asarray(scores[name], np.float64)).rank(method="average").to_numpy()
                             for name in names])
    centered = ranks - ranks.mean(axis=0)
    norms = np.linalg.norm(centered, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = (centered.T @ centered) / np.outer(norms, norms)
    matrix[:, norms == 0] = np.nan
    matrix[norms == 0, :] = np.nan
    return pd.DataFrame(np.clip(matrix, -1, 1), index=names, columns=names)


def flag_overlap(scores: Mapping[str, np.ndarray], budget: float) -> pd.DataFrame:
    """Agreement of the flagged sets (top round(budget * n) of each score) for every pair.

    One row per unordered pair: `a`, `b`, `n_flagged` (the same for every method at one
    budget), `both` (flagged by both), `only_a`, `only_b`, `jaccard` (|A∩B| / |A∪B|).
    """
    names = list(scores)
    masks = {name: flag(scores[name], budget) for name in names}
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = int((masks[a] & masks[b]).sum())
            union = int((masks[a] | masks[b]).sum())
            rows.append({"a": a, "b": b, "n_flagged": int(masks[a].sum()), "both": both,
                         "only_a": int(masks[a].sum()) - both, "only_b": int(masks[b].sum()) - both,
                         "jaccard": both / union if union else float("nan")})
    return pd.DataFrame(rows, columns=["a", "b", "n_flagged", "both", "only_a", "only_b", "jaccard"])


def upscale_nearest(images: np.ndarray, min_side: int = 64) -> np.ndarray:
    """Enlarge tiny images (..., H, W, C) by an integer factor with nearest-neighbour repeats,
    so an 8x8 digit shows as crisp 64x64 pixels instead of a blur; larger images pass through."""
    height, width = images.shape[-3], images.shape[-2]
    factor = max(1, int(np.ceil(min_side / max(1, min(height, width)))))
    if factor == 1:
        return images
    return np.repeat(np.repeat(images, factor, axis=-3), factor, axis=-2)
