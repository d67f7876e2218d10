"""The registry of 2-D map methods (light: nothing here imports UMAP or scikit-learn).

Target: `fit(vectors (m, d) standardized and reduced float32, cfg: EmbedConfig, seed) -> a fitted model`
whose `transform` maps rows to 2-D (and whose `embedding_`, when present, is the fit rows' layout)
(core.evaluate.embedding).
"""

from core.registry import Registry

EMBEDDERS = Registry("embedding method")
EMBEDDERS.add("umap", "UMAP (umap-learn), seeded and single-threaded", "core.evaluate.embedding:umap_map")
EMBEDDERS.add("pca", "the first two principal components", "core.evaluate.embedding:pca_map")
