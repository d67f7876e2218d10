"""The registries of gradient modes and projections (light: nothing here imports torch).

GRADIENT_MODES: which model's gradient each training sample gets (docs/gradient-modes.md
measures them): target `(ctx) -> (models, fold_of)`, the models the gradient stage takes
gradients of and each sample's fold; meta `stored_outputs`, `shared_hidden_space`,
`oof_from_factors` answer what later stages need (core.pipeline.gradient_modes explains each).
PROJECTIONS: target `build(width, out_dim, seed, *, n_classes, feat_dim, include_bias)
-> Projector` (core.gradients.projection); `GradientConfig.projection` may also be
"auto" (core.gradients.projection.resolve_projection) or "none".
"""

from core.registry import Registry

GRADIENT_MODES = Registry("gradient mode")
_MODES = "core.pipeline.gradient_modes"
GRADIENT_MODES.add("in_sample", "every sample's gradient from the one model trained on the training split",
                   f"{_MODES}:in_sample_models", stored_outputs=True, shared_hidden_space=True,
                   oof_from_factors=False)
GRADIENT_MODES.add("cross_fit", "each sample's gradient from a model trained on the other K - 1 folds",
                   f"{_MODES}:cross_fit_models", stored_outputs=False, shared_hidden_space=False,
                   oof_from_factors=True)

PROJECTIONS = Registry("projection")
PROJECTIONS.add("none", "store gradients at full width", None)
PROJECTIONS.add("sparse", "sparse Johnson-Lindenstrauss projection of any gradient",
                     "core.gradients.projection:build_sparse")
PROJECTIONS.add("kronecker", "Kronecker-structured projection of last-layer gradients, never building "
                     "the outer product", "core.gradients.projection:build_kronecker")
