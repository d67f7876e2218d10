"""The registry of 2-D map methods (light: nothing here imports UMAP or scikit-learn).

Target: `fit(vectors (n, d) standardized float32, cfg: EmbedConfig, seed) -> (n, 2)`
(core.evaluate.embedding).
"""

from core.registry import Registry

EMBEDDERS = Registry("embedding method")
EMBEDDERS.add("umap", "UMAP (umap-learn), seeded and single-threaded", "core.evaluate.embedding:umap_map")
EMBEDDERS.add("pca", "the first two principal components", "core.evaluate.embedding:pca_map")
