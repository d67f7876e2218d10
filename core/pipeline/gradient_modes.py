"""The gradient modes' implementations (targets of core.gradients.registry.GRADIENT_MODES).

A mode decides which model's gradient each training sample gets. Its target
`(ctx) -> (models, fold_of)` returns the model(s) whose gradients the gradient stage
takes and each training sample's fold: model k computes the rows of fold k, or the one
model every row (fold -1). No model at all means the closed form on the train stage's
stored features and probabilities (`from_stored_features`). What later stages need to
know about a mode is its registry meta, not its name:

- `stored_outputs`: with last-layer gradients the mode needs no network pass, so it is
  the one mode a run on handed-in outputs supports;
- `shared_hidden_space`: every row lives in one model's parameter space, so the
  embedding stage may map the rows themselves;
- `oof_from_factors`: the probabilities the gradient stage stores (gradient_factors.npz)
  come from models that never saw the sample's label, so they are the out-of-fold ones.
"""

from __future__ import annotations

import numpy as np

from core.config import GradientConfig
from core.gradients.registry import GRADIENT_MODES
from core.models.nets import FeatureModel
from core.pipeline.artifacts import load_run_model
from core.pipeline.context import StageContext
from core.pipeline.fitting import fold_models


def from_stored_features(grad_cfg: GradientConfig) -> bool:
    """Whether the gradients are the closed form on the train stage's features.npy and probabilities: last-layer
    gradients of a mode that reads the stored outputs; no second backbone pass."""
    return bool(GRADIENT_MODES.entry(grad_cfg.mode).meta["stored_outputs"]) and grad_cfg.layers == "last"


def in_sample_models(ctx: StageContext) -> tuple[list[FeatureModel], np.ndarray]:
    """The analyzed model for every sample (fold -1); none for last-layer gradients, which come from the
    stored outputs."""
    in_sample = np.full(len(ctx.dataset.x_train), -1, dtype=np.int64)
    if from_stored_features(ctx.config.gradients):
        return [], in_sample
    return [load_run_model(ctx.run, ctx.manifest, ctx.dataset)], in_sample


def cross_fit_models(ctx: StageContext) -> tuple[list[FeatureModel], np.ndarray]:
    """K fold models (`gradients.folds`), model k trained on every fold but k; each sample's fold."""
    return fold_models(ctx, ctx.config.gradients.folds)
