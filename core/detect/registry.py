"""The registry of outlier detectors (light: nothing here imports scikit-learn).

Each entry's target is `build(cfg: DetectConfig, seed) -> an unfitted scikit-learn-style
outlier estimator` (core.detect.estimators). Meta:

- `norm_column`: the closed-form column of the gradients stage's factors that *is* the
  detector's score (`grad_l1` / `grad_l2` for last-layer gradients, `residual_l2` for any),
  so the pipeline never fits it.
- `row_wise`: a fitted estimator's score of a row depends only on that row, so row shards
  can be scored anywhere (a cluster); LOF scores its own training rows differently.

Adding a detector is one builder in core.detect.estimators and one line here.
"""

from core.registry import Registry

DETECTORS = Registry("detector")
DETECTORS.add("iforest", "Isolation Forest on the gradients (the paper's preferred detector)",
                   "core.detect.estimators:build_iforest", row_wise=True)
DETECTORS.add("l1", "L1 norm of the gradient (largest = most outlying)",
                   "core.detect.estimators:build_l1", norm_column="grad_l1", row_wise=True)
DETECTORS.add("l2", "L2 norm of the gradient (largest = most outlying)",
                   "core.detect.estimators:build_l2", norm_column="grad_l2", row_wise=True)
DETECTORS.add("residual", "L2 norm of the loss gradient at the outputs, ||dl/dz|| = ||r|| (the head bias's gradient): "
                   "the gradient norm without its feature factor; the default primary of regression (docs/tasks.md)",
                   norm_column="residual_l2", row_wise=True)
DETECTORS.add("lof", "Local Outlier Factor (sklearn; scores its fit data as novelty=False)",
                   "core.detect.estimators:build_lof", row_wise=False)
DETECTORS.add("ocsvm", "One-class SVM with an RBF kernel (sklearn)",
                   "core.detect.estimators:build_ocsvm", row_wise=True)
