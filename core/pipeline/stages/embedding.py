"""Stage 6, embedding: the 2-D UMAP/PCA map of gradient space, and a PCA map of the inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from core.config import RunConfig
from core.evaluate.embedding import embed_2d
from core.gradients.projection import make_projector
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import write_parquet


def map_inputs(gradients: np.ndarray, config: RunConfig) -> tuple[np.ndarray, str]:
    """The map's input rows from the stored (memory-mapped) gradients, and what they are.

    Rows wider than `embed.max_width` (`--projection none` on a wide head) are
    sparse-projected to that width chunk by chunk, so the map never loads an (n, width)
    matrix of unbounded width into memory.
    """
    n, width = gradients.shape
    max_width = config.embed.max_width
    if width <= max_width:
        return np.asarray(gradients), "gradients"
    projector = make_projector("sparse", n, width, out_dim=max_width, seed=config.seed)
    vectors = np.empty((n, max_width), np.float32)
    chunk = config.gradients.chunk_size
    for start in range(0, n, chunk):
        vectors[start:start + chunk] = projector.project(np.asarray(gradients[start:start + chunk]))
    return vectors, f"gradients, sparse-projected from {width} to {max_width} dims"


def run(ctx: StageContext) -> dict:
    factors = ctx.run.read_npz(schema.FACTORS)
    if ctx.config.gradients.mode == "in_sample":
        vectors, source = map_inputs(ctx.run.read_npy(schema.GRADIENTS, mmap=True), ctx.config)
    else:
        # Fold models have unrelated hidden spaces; the logit-space direction of the gradient,
        # scaled to its norm, is the part whose coordinates mean the same under every fold.
        residual = factors["residual"]
        norm = np.linalg.norm(residual, axis=1, keepdims=True)
        vectors = residual / np.where(norm > 0, norm, 1.0) * factors["grad_l2"][:, None]
        source = "logit-space gradient direction x gradient L2 norm"
    coords = embed_2d(vectors, ctx.config.embed, ctx.config.seed)
    flat_inputs = ctx.dataset.x_train.reshape(len(ctx.dataset.x_train), -1).astype(np.float32)
    if flat_inputs.shape[1] > 2:
        feature_map = PCA(n_components=2, random_state=ctx.config.seed).fit_transform(flat_inputs)
    else:
        feature_map = np.column_stack([flat_inputs, np.zeros((len(flat_inputs), 2 - flat_inputs.shape[1]))])
    write_parquet(ctx.run.file(schema.EMBEDDING), pd.DataFrame({
        schema.UMAP_X: coords[:, 0], schema.UMAP_Y: coords[:, 1],
        schema.FEATURE_X: feature_map[:, 0].astype(np.float32), schema.FEATURE_Y: feature_map[:, 1].astype(np.float32),
    }))
    ctx.manifest["embedding"] = {"method": ctx.config.embed.method, "input": source}
    return {}
