"""Stage 3, gradients: per-sample gradients (in-sample or cross-fitted), their L1/L2 norms in closed
form, and the (projected) gradient matrix gradients.npy.

In-sample last-layer gradients come from the train stage's stored features and probabilities
(no network runs, in this process; the same path serves runs whose outputs were handed in);
everything else is computed by the run's executor, block by block, straight into a
memory-mapped temp file that is renamed into place at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.gradients.func import select_parameters
from core.gradients.last_layer import factors_from_outputs
from core.gradients.projection import Projector, make_projector
from core.gradients.registry import GRADIENT_MODES
from core.gradients.rows import GradientRows, factor_gradient_rows
from core.models.nets import FeatureModel
from core.pipeline.context import StageContext
from core.pipeline.gradient_modes import from_stored_features
from core.run import schema
from core.run.io import AtomicNpyWriter, write_npz


def gradient_models(ctx: StageContext) -> tuple[list[FeatureModel], np.ndarray]:
    """The model(s) whose gradients are taken, and each sample's fold (-1 = in-sample), as the gradient mode
    decides (core.pipeline.gradient_modes); no model for gradients from the stored outputs."""
    return GRADIENT_MODES.get(ctx.config.gradients.mode)(ctx)


def _parts(ctx: StageContext, models: list[FeatureModel], groups: list[np.ndarray], projector: Projector | None,
           names: list[str] | None, writer: AtomicNpyWriter) -> Iterator[GradientRows]:
    """Each group's gradients into the writer's rows (model k for group k), yielding the small arrays."""
    data, grad_cfg = ctx.dataset, ctx.config.gradients
    if from_stored_features(grad_cfg):
        # The train stage stored the model's features and probabilities: the closed form needs nothing else.
        factors = factors_from_outputs(
            ctx.run.read_npy(schema.FEATURES, mmap=True),
            ctx.run.read_npz(schema.ERM_OUTPUTS)["train_probs"],
            data.given_train,
            ctx.task,
        )
        yield factor_gradient_rows(factors, groups[0], grad_cfg, projector, writer.array)
        return
    yield from ctx.executor.gradient_parts(
        models, ctx.model_name, data.x_train, data.given_train, groups, grad_cfg, projector, names, writer.array,
        Path(writer.tmp_name), input_shape=data.input_shape, n_classes=data.n_classes, kind=data.kind,
        device=ctx.config.train.device, task=ctx.task)


def run(ctx: StageContext) -> dict:
    data, grad_cfg, seed = ctx.dataset, ctx.config.gradients, ctx.config.seed
    n = len(data.x_train)
    models, fold_of = gradient_models(ctx)
    groups = ([np.arange(n)] if not models else
              [np.flatnonzero(fold_of == (-1 if len(models) == 1 else f)) for f in range(len(models))])

    last_layer = grad_cfg.layers == "last"
    if last_layer:
        names = None
        feat_dim = int(ctx.manifest["model"]["feature_dim"])
        width = data.n_classes * (feat_dim + int(grad_cfg.include_bias))
    else:
        names = select_parameters(models[0], grad_cfg.layers)
        params = dict(models[0].named_parameters())
        width = int(sum(params[name].numel() for name in names))
        feat_dim = None
    projector = make_projector(
        grad_cfg.projection, n, width, n_classes=data.n_classes if last_layer else None,
        feat_dim=feat_dim if last_layer else None, include_bias=grad_cfg.include_bias,
        out_dim=grad_cfg.projection_dim, seed=seed)
    out_width = projector.out_dim if projector is not None else width

    probs = np.zeros((n, data.n_classes), np.float32)
    loss = np.zeros(n, np.float32)
    residual_dir = np.zeros((n, data.n_classes), np.float32)
    grad_l1 = np.zeros(n, np.float64)
    grad_l2 = np.zeros(n, np.float64)
    writer = AtomicNpyWriter(ctx.run.file(schema.GRADIENTS), (n, out_width))
    try:
        for part in _parts(ctx, models, groups, projector, names, writer):
            probs[part.rows], loss[part.rows], residual_dir[part.rows] = part.probs, part.loss, part.residual
            grad_l1[part.rows], grad_l2[part.rows] = part.grad_l1, part.grad_l2
        writer.commit()
    except BaseException:
        writer.abort()
        raise

    write_npz(ctx.run.file(schema.FACTORS), probs=probs, loss=loss, fold=fold_of, grad_l1=grad_l1,
              grad_l2=grad_l2, residual=residual_dir,
              residual_l2=np.linalg.norm(residual_dir.astype(np.float64), axis=1))
    ctx.manifest["gradients"] = {
        "mode": grad_cfg.mode,
        "layers": grad_cfg.layers,
        "width": width,
        "stored_width": out_width,
        "projection": type(projector).__name__ if projector is not None else None,
        "layout": "kron(p - e_y, [h, 1])" if last_layer and grad_cfg.include_bias else
                  ("kron(p - e_y, h)" if last_layer else "parameters in named_parameters order"),
    }
    executor = "this process, head on stored features" if from_stored_features(grad_cfg) else \
        ctx.executor.describe()
    return {"width": width, "stored_width": out_width, "executor": executor}
