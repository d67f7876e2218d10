"""Where the gradient and scoring stages run: this process or a Dask cluster, behind one interface.

Two-stage workflow (the pipeline's `gradients` then `scores` stage, docs/distributed.md):

1. **Gradients.** The training rows of each gradient model (one model in-sample, one per
   fold when cross-fitting) are computed block by block by `core.gradients.rows.gradient_rows`
   and written into the memory-mapped temp file that becomes `gradients.npy`; only the
   small per-sample arrays (`GradientRows`) come back. `LocalExecutor` runs each group as
   one block here; `DaskExecutor` cuts groups into aligned shards (core.pipeline.shards)
   that workers compute from a `torch.save` copy of the model (core.pipeline.dask_cluster).
2. **Scores.** The stage fits each fitted detector on a seeded subsample of each fold
   group (every row up to `DetectConfig.max_fit_samples`); the executor scores the rows:
   here in chunks, or, for row-wise detectors on a cluster, on workers reading row shards
   of `gradients.npy`.

The executor never changes results, which is why it is not part of `RunConfig`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.config import GradientConfig
from core.gradients.projection import Projector
from core.gradients.rows import GradientRows, gradient_rows
from core.models.nets import FeatureModel
from core.run.io import release_pages


class Executor(ABC):
    """Runs gradient blocks and detector scoring; the numbers are the same whichever executor runs them."""

    @abstractmethod
    def gradient_parts(self, models: Sequence[FeatureModel], model_name: str, x: np.ndarray, labels: np.ndarray,
                       groups: Sequence[np.ndarray], grad_cfg: GradientConfig, projector: Projector | None,
                       param_names: list[str] | None, out: np.ndarray, out_path: Path, *, input_shape: tuple,
                       n_classes: int, kind: str, device: str, task=None) -> Iterator[GradientRows]:
        """Gradients of rows `groups[k]` under `models[k]` into `out` (the memory-mapped temp file at
        `out_path`), yielding each block's `GradientRows`; `task`: the loss (core.tasks; default cross-entropy)."""

    @abstractmethod
    def score(self, estimator: Any, row_wise: bool, gradients: np.ndarray, gradients_path: Path, rows: np.ndarray,
              chunk_size: int, fit_matrix: np.ndarray | None = None) -> np.ndarray:
        """(len(rows),) float64 scores of gradients[rows] by a fitted estimator, higher = more outlying.

        fit_matrix: the matrix the estimator was fitted on when that is every row of the group:
        scored at once, exactly as `outlier_scores` does (LOF scores its own fit rows differently
        from new rows).
        """

    @abstractmethod
    def describe(self) -> str:
        """What ran the work, for the manifest's stage facts."""


def local_scores(estimator: Any, gradients: np.ndarray, rows: np.ndarray, chunk_size: int,
                 fit_matrix: np.ndarray | None = None) -> np.ndarray:
    """(len(rows),) float64 scores of gradients[rows] in this process: the fit matrix at once when given,
    else `chunk_size` rows at a time."""
    if fit_matrix is not None:
        return -np.asarray(estimator.score_samples(fit_matrix), dtype=np.float64)
    scores = np.zeros(len(rows), np.float64)
    for start in range(0, len(rows), chunk_size):
        block = np.asarray(gradients[rows[start:start + chunk_size]])
        release_pages(gradients)
        scores[start:start + len(block)] = -np.asarray(estimator.score_samples(block), dtype=np.float64)
    return scores


class LocalExecutor(Executor):
    """Everything in this process: each fold group is one block."""

    def gradient_parts(self, models, model_name, x, labels, groups, grad_cfg, projector, param_names, out, out_path,
                       task=None, **_: Any) -> Iterator[GradientRows]:
        for model, rows in zip(models, groups):
            yield gradient_rows(model, x[rows], labels[rows], rows, grad_cfg, projector, param_names, out, task=task)

    def score(self, estimator, row_wise, gradients, gradients_path, rows, chunk_size, fit_matrix=None) -> np.ndarray:
        return local_scores(estimator, gradients, rows, chunk_size, fit_matrix)

    def describe(self) -> str:
        return "local"


class DaskExecutor(Executor):
    """Gradient shards and row-wise scoring on a `dask.distributed.Client`'s workers.

    The run directory must lie on a filesystem every worker mounts at the same path.
    Detectors that are not row-wise (LOF) are scored here, in the same chunks a local run uses.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def gradient_parts(self, models, model_name, x, labels, groups, grad_cfg, projector, param_names, out, out_path,
                       *, input_shape, n_classes, kind, device, task=None) -> Iterator[GradientRows]:
        from core.pipeline.dask_cluster import ModelPayload, cluster_gradient_rows

        payloads = [ModelPayload.from_model(model, model_name, input_shape, n_classes, kind, device)
                    for model in models]
        out.flush()  # the .npy header is on disk before a worker maps the file
        yield from cluster_gradient_rows(self.client, payloads, x, labels, groups, grad_cfg, projector,
                                         param_names, out_path, task)

    def score(self, estimator, row_wise, gradients, gradients_path, rows, chunk_size, fit_matrix=None) -> np.ndarray:
        if not row_wise:
            return local_scores(estimator, gradients, rows, chunk_size, fit_matrix)
        from core.pipeline.dask_cluster import cluster_scores

        return cluster_scores(self.client, estimator, gradients_path, rows, chunk_size)

    def describe(self) -> str:
        from core.pipeline.dask_cluster import describe

        return describe(self.client)


def executor_for(client: Any = None) -> Executor:
    """A `DaskExecutor` on `client`, or the `LocalExecutor` when there is none."""
    return LocalExecutor() if client is None else DaskExecutor(client)
