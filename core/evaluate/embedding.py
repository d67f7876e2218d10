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


def pca_map(vectors: np.ndarray, cfg: EmbedConfig, seed: int) -> np.ndarray:
    return PCA(n_components=2, random_state=seed).fit_transform(vectors)


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


def umap_map(vectors: np.ndarray, cfg: EmbedConfig, seed: int) -> np.ndarray:
    import umap  # lazy: about a second of import, plus numba's JIT on first use

    _cache_numba_functions()

    n_neighbors = min(cfg.n_neighbors, len(vectors) - 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value .* overridden.*")
        reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=cfg.min_dist, random_state=seed, n_jobs=1)
        return reducer.fit_transform(vectors)


def embed_2d(vectors: np.ndarray, cfg: EmbedConfig, seed: int) -> np.ndarray:
    """(n, 2) float32 map of the rows of `vectors` (n, d); standardized first so no column dominates.

    Tiny inputs (fewer than 4 rows, or a single column) fall back to PCA / padding,
    since UMAP needs neighbours.
    """
    vectors = np.array(vectors, dtype=np.float32)  # one private copy, standardized in place
    scale = vectors.std(axis=0)
    vectors -= vectors.mean(axis=0)
    vectors /= np.where(scale > 0, scale, 1.0)
    if vectors.shape[1] == 1:
        return np.column_stack([vectors[:, 0], np.zeros(len(vectors), np.float32)])
    method = cfg.method if len(vectors) >= 4 else "pca"
    return EMBEDDERS.get(method)(vectors, cfg, seed).astype(np.float32)
