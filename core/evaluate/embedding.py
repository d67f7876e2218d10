"""2-D maps of gradient space for the dashboard, computed offline.

UMAP is imported lazily (the import and numba's first compilation cost seconds), and
is run single-threaded with a fixed random_state so the map is reproducible. umap-learn
compiles most of its numba functions without an on-disk cache, so every new process
paid ~12 s of JIT on a 2-core CPU before drawing anything; `_cache_numba_functions`
turns numba's cache on for them, so only the first process on a machine pays it
(figures in docs/benchmarks.md).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from sklearn.decomposition import PCA

from core.config import EmbedConfig
from core.evaluate.registry import EMBEDDERS
from core.run.io import release_pages, take_rows


def pca_map(vectors: np.ndarray, cfg: EmbedConfig, seed: int):
    """A 2-component PCA fitted on `vectors` (fit rows); the returned model's `transform` maps any rows."""
    return PCA(n_components=2, random_state=seed).fit(vectors)


_NUMBA_PACKAGES = ("umap", "pynndescent")
_numba_cache_enabled = False


def _cache_numba_functions() -> int:
    """Turn on numba's on-disk cache for every module-level jitted function of umap / pynndescent that lacks one.

    Numba then stores the machine code it compiles (in the package's __pycache__ when
    writable, else numba's per-user cache directory, or NUMBA_CACHE_DIR when set) and
    later processes load it instead of compiling again. The compiled code is the same,
    so the map is bit-identical with or without the cache. Runs once per process;
    returns how many functions it enabled.
    """
    global _numba_cache_enabled
    if _numba_cache_enabled:
        return 0
    _numba_cache_enabled = True
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    enabled = 0
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name.split(".")[0] not in _NUMBA_PACKAGES:
            continue
        for function in list(vars(module).values()):
            if isinstance(function, Dispatcher) and isinstance(function._cache, NullCache):
                try:
                    function.enable_caching()
                except RuntimeError:  # no writable cache location for this function's file: stay uncached
                    continue
                enabled += 1
    return enabled


def umap_map(vectors: np.ndarray, cfg: EmbedConfig, seed: int):
    """UMAP fitted on `vectors` (fit rows), seeded and single-threaded; `transform` places other rows on its map."""
    import umap  # lazy: about a second of import, plus numba's JIT on first use

    _cache_numba_functions()

    n_neighbors = min(cfg.n_neighbors, len(vectors) - 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value .* overridden.*")
        reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=cfg.min_dist, random_state=seed, n_jobs=1)
        reducer.fit(vectors)
    return reducer


CHUNK_ROWS = 8192
"""Rows read, standardized and reduced at a time: memory is bounded by the fit rows and one chunk."""
TRANSFORM_ROWS = 65_536
"""Reduced rows placed on the fitted map per `transform` call (UMAP pays ~1.5 s per call on top of
its per-row work: 8,192-row calls took 2.4x as long as 65,536-row calls on 980,000 rows)."""


def fit_rows(n: int, cap: int, seed: int) -> np.ndarray:
    """(m,) sorted rows the map is fitted on: all of them up to `cap`, else a seeded uniform subsample."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 5]).choice(n, size=cap, replace=False))


def pca_2d(vectors: np.ndarray, max_fit_rows: int, seed: int) -> np.ndarray:
    """(n, 2) float32 PCA map of the rows of `vectors` (n, d), unstandardized: the inputs' own geometry.

    Fitted on at most `max_fit_rows` seeded rows, then every row is transformed chunk by chunk;
    one or two columns are returned as they are (padded with zeros).
    """
    n, width = vectors.shape
    if width <= 2:
        flat = np.asarray(vectors, dtype=np.float32)
        return np.column_stack([flat, np.zeros((n, 2 - width), np.float32)])
    model = PCA(n_components=2, random_state=seed).fit(np.asarray(take_rows(vectors, fit_rows(n, max_fit_rows, seed)),
                                                                  np.float32))
    coords = np.empty((n, 2), np.float32)
    for start in range(0, n, CHUNK_ROWS):
        coords[start:start + CHUNK_ROWS] = model.transform(np.asarray(vectors[start:start + CHUNK_ROWS], np.float32))
        release_pages(vectors)
    return coords


def embed_2d(vectors: np.ndarray, cfg: EmbedConfig, seed: int) -> np.ndarray:
    """(n, 2) float32 map of the rows of `vectors` (n, d): an array, a memory map, or anything with
    `shape` and row slicing.

    Columns are standardized by the fit rows' mean and deviation (so no column dominates),
    reduced to `cfg.pca_dims` principal components when wider, then mapped: the map is fitted on
    at most `cfg.fit_rows` rows (a seeded subsample) and every other row is placed on it with the
    fitted model's transform, chunk by chunk, so a million rows never sit in memory at full width.
    Tiny inputs (fewer than 4 rows, or a single column) fall back to PCA / padding.
    """
    n, width = vectors.shape
    chosen = fit_rows(n, cfg.fit_rows, seed)
    sample = np.asarray(take_rows(vectors, chosen), dtype=np.float32)
    mean = sample.mean(axis=0)
    scale = sample.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)

    def standardized(rows) -> np.ndarray:
        block = (np.asarray(vectors[rows], dtype=np.float32) - mean) / scale
        release_pages(vectors)
        return block

    if width == 1:
        return np.column_stack([standardized(slice(None))[:, 0], np.zeros(n, np.float32)])
    reducer = None
    if cfg.pca_dims and width > cfg.pca_dims and len(chosen) > cfg.pca_dims:
        reducer = PCA(n_components=cfg.pca_dims, random_state=seed).fit((sample - mean) / scale)
    reduced = np.empty((n, reducer.n_components_ if reducer is not None else width), np.float32)
    for start in range(0, n, CHUNK_ROWS):
        block = standardized(slice(start, start + CHUNK_ROWS))
        reduced[start:start + len(block)] = reducer.transform(block) if reducer is not None else block
    method = cfg.method if len(chosen) >= 4 else "pca"
    model = EMBEDDERS.get(method)(reduced[chosen], cfg, seed)
    coords = np.empty((n, 2), np.float32)
    fitted = getattr(model, "embedding_", None)
    if fitted is not None:
        coords[chosen] = fitted  # UMAP's own layout of its fit rows
    else:
        coords[chosen] = model.transform(reduced[chosen])
    rest = np.setdiff1d(np.arange(n), chosen)
    for start in range(0, len(rest), TRANSFORM_ROWS):
        rows = rest[start:start + TRANSFORM_ROWS]
        coords[rows] = model.transform(reduced[rows])
    return coords
