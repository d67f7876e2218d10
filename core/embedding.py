"""2-D maps of gradient space for the dashboard, computed offline.

UMAP is imported lazily (the import and numba's first compilation cost seconds), and
is run single-threaded with a fixed random_state so the map is reproducible.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.decomposition import PCA

from core.config import EmbedConfig


def _pca(vectors: np.ndarray, cfg: EmbedConfig, seed: int) -> np.ndarray:
    return PCA(n_components=2, random_state=seed).fit_transform(vectors)


def _umap(vectors: np.ndarray, cfg: EmbedConfig, seed: int) -> np.ndarray:
    import umap  # lazy: several seconds of import and JIT

    n_neighbors = min(cfg.n_neighbors, len(vectors) - 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value .* overridden.*")
        reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=cfg.min_dist, random_state=seed, n_jobs=1)
        return reducer.fit_transform(vectors)


EMBEDDERS: dict[str, Callable[[np.ndarray, EmbedConfig, int], np.ndarray]] = {"pca": _pca, "umap": _umap}


def embed_2d(vectors: np.ndarray, cfg: EmbedConfig, seed: int) -> np.ndarray:
    """(n, 2) float32 map of the rows of `vectors` (n, d); standardized first so no column dominates.

    Tiny inputs (fewer than 4 rows, or a single column) fall back to PCA / padding,
    since UMAP needs neighbours.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = vectors.std(axis=0)
    vectors = (vectors - vectors.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    if vectors.shape[1] == 1:
        return np.column_stack([vectors[:, 0], np.zeros(len(vectors), np.float32)])
    method = cfg.method if len(vectors) >= 4 else "pca"
    return EMBEDDERS[method](vectors, cfg, seed).astype(np.float32)
