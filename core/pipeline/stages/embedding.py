"""Stage 7, embedding: the 2-D UMAP/PCA map of gradient space, and a PCA map of the inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.evaluate.embedding import embed_2d, pca_2d
from core.gradients.projection import make_projector
from core.gradients.registry import GRADIENT_MODES
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import release_pages, take_rows, write_parquet


class ProjectedRows:
    """Rows of a stored (n, width) gradient matrix, sparse-projected to `out_dim` as they are read.

    `embed_2d` reads its input by rows (a fit subsample, then chunks), so wrapping the memory
    map keeps an (n, width) matrix of unbounded width out of memory.
    """

    def __init__(self, gradients: np.ndarray, out_dim: int, seed: int):
        self.gradients = gradients
        self.shape = (gradients.shape[0], out_dim)
        self.projector = make_projector("sparse", gradients.shape[0], gradients.shape[1], out_dim=out_dim, seed=seed)

    def __getitem__(self, rows) -> np.ndarray:
        if isinstance(rows, slice):
            block = np.asarray(self.gradients[rows], dtype=np.float32)
            release_pages(self.gradients)
        else:
            block = take_rows(self.gradients, rows).astype(np.float32, copy=False)
        return self.projector.project(block)


def map_inputs(gradients: np.ndarray, config: RunConfig) -> tuple[np.ndarray | ProjectedRows, str]:
    """The map's input rows from the stored (memory-mapped) gradients, and what they are.

    Nothing is loaded here: `embed_2d` reads rows as it needs them. Rows wider than
    `embed.max_width` (`--projection none` on a wide head) are sparse-projected to that width.
    """
    width = gradients.shape[1]
    max_width = config.embed.max_width
    if width <= max_width:
        return gradients, "gradients"
    return ProjectedRows(gradients, max_width, config.seed), \
        f"gradients, sparse-projected from {width} to {max_width} dims"


def run(ctx: StageContext) -> dict:
    factors = ctx.run.read_npz(schema.FACTORS)
    if GRADIENT_MODES.entry(ctx.config.gradients.mode).meta["shared_hidden_space"]:
        vectors, source = map_inputs(ctx.run.read_npy(schema.GRADIENTS, mmap=True), ctx.config)
    else:
        # Models with unrelated hidden spaces (one per fold); the logit-space direction of the gradient,
        # scaled to its norm, is the part whose coordinates mean the same under every model.
        residual = factors["residual"]
        norm = np.linalg.norm(residual, axis=1, keepdims=True)
        vectors = residual / np.where(norm > 0, norm, 1.0) * factors["grad_l2"][:, None]
        source = "logit-space gradient direction x gradient L2 norm"
    coords = embed_2d(vectors, ctx.config.embed, ctx.config.seed)
    inputs = ctx.dataset.embeddings_train if ctx.dataset.embeddings_train is not None else ctx.dataset.x_train
    flat_inputs = inputs.reshape(len(inputs), -1)
    feature_map = pca_2d(flat_inputs, ctx.config.embed.fit_rows, ctx.config.seed)
    write_parquet(ctx.run.file(schema.EMBEDDING), pd.DataFrame({
        schema.UMAP_X: coords[:, 0], schema.UMAP_Y: coords[:, 1],
        schema.FEATURE_X: feature_map[:, 0].astype(np.float32), schema.FEATURE_Y: feature_map[:, 1].astype(np.float32),
    }))
    ctx.manifest["embedding"] = {"method": ctx.config.embed.method, "input": source}
    return {}
