"""The registries of gradient modes and projections (light: nothing here imports torch).

GRADIENT_MODES: which model's gradient each training sample gets (the pipeline's
gradient stage reads the mode; docs/gradient-modes.md measures them).
PROJECTIONS: target `build(width, out_dim, seed, *, n_classes, feat_dim, include_bias)
-> Projector` (core.gradients.projection); `GradientConfig.projection` may also be
"auto" (core.gradients.projection.resolve_projection) or "none".
"""

from core.registry import Registry

GRADIENT_MODES = Registry("gradient mode")
GRADIENT_MODES.add("in_sample", "every sample's gradient from the one model trained on the training split")
GRADIENT_MODES.add("cross_fit", "each sample's gradient from a model trained on the other K - 1 folds")

PROJECTIONS = Registry("projection")
PROJECTIONS.add("none", "store gradients at full width", None)
PROJECTIONS.add("sparse", "sparse Johnson-Lindenstrauss projection of any gradient",
                     "core.gradients.projection:build_sparse")
PROJECTIONS.add("kronecker", "Kronecker-structured projection of last-layer gradients, never building "
                     "the outer product", "core.gradients.projection:build_kronecker")
