"""Stage 4, scores: every requested detector on the gradients; higher = more outlying.

Norm detectors take their closed-form column (grad_l1 / grad_l2). Fitted detectors fit
once per fold group — cross-fitted gradients of different folds live in different
models' parameter spaces (Isolation Forest's scores are normalized by the expected path
length, so equal-size folds are comparable) — on at most `detect.max_fit_samples` rows,
and the executor scores the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.detect.registry import DETECTORS
from core.pipeline.context import StageContext
from core.pipeline.shards import detector_fit_rows
from core.run import schema
from core.run.io import take_rows, write_parquet


def gradient_block(gradients: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """gradients[rows]: a view of the memory map when the rows are consecutive (a detector that
    samples rows, like Isolation Forest, then reads only those), else an in-memory copy."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        return gradients[rows[0]:rows[-1] + 1]
    return take_rows(gradients, rows)


def run(ctx: StageContext) -> dict:
    factors = ctx.run.read_npz(schema.FACTORS)
    gradients = None
    columns: dict[str, np.ndarray] = {}
    detect, seed = ctx.config.detect, ctx.config.seed
    fold_of = factors["fold"]
    groups = [np.flatnonzero(fold_of == fold) for fold in np.unique(fold_of)]
    fit_rows = [detector_fit_rows(rows, seed, group, detect.max_fit_samples) for group, rows in enumerate(groups)]
    for name in detect.detectors:
        entry = DETECTORS.entry(name)
        if entry.meta.get("norm_column") is not None:
            columns[schema.score_column(name)] = factors[entry.meta["norm_column"]]
            continue
        if gradients is None:
            gradients = ctx.run.read_npy(schema.GRADIENTS, mmap=True)
        scores = np.zeros(len(gradients), np.float64)
        for rows, fit in zip(groups, fit_rows):
            estimator = entry.load()(detect, seed)
            fit_matrix = gradient_block(gradients, fit)
            estimator.fit(fit_matrix)
            scores[rows] = ctx.executor.score(estimator, entry.meta["row_wise"], gradients,
                                              ctx.run.file(schema.GRADIENTS), rows, ctx.config.gradients.chunk_size,
                                              fit_matrix if len(fit) == len(rows) else None)
            del fit_matrix
        columns[schema.score_column(name)] = scores
    write_parquet(ctx.run.file(schema.SCORES), pd.DataFrame(columns))
    ctx.manifest["scores"] = {"fit_cap": detect.max_fit_samples, "fit_rows": [int(len(fit)) for fit in fit_rows]}
    return {"executor": ctx.executor.describe()}
