"""The one place that names the run directory's files and columns.

A run directory (written by `gradsift analyze`) holds:

- `manifest.json`: schema version, full config, package versions, dataset facts and
  fingerprint, class names, per-stage timings and results.
- `samples.parquet`: one row per training sample, columns below.
- `gradients.npy`: float32 (n_train, width), the gradient matrix the fitted detectors
  saw (randomly projected when wider than `gradients.projection_dim`; the manifest's
  `gradients` entry says how). Row i is sample_id i. In cross-fit mode each row lives
  in the parameter space of its own fold model (column `fold`).
- `features.npy` / `test_features.npy`: float32 penultimate features of the analyzed
  model, used by linear-probe retraining; `erm_outputs.npz`: its train/test probabilities
  and the validation rows.
- `baseline_outputs.npz`: features and probabilities of the training samples under the
  early-stopped model before the refit (the influence baselines' model: its validation
  split is held out); absent without a refit or without baselines.
- `test_labels.npy`: int64 test labels, written by the evaluate stage: the only stage that
  reads them (nothing that decides what to flag sees them).
- `model.pt`: the analyzed model's state dict (loaded with weights_only=True).
- `thumbnails.npy` / `test_thumbnails.npy`: uint8 (n, H, W, channels) images of the
  training (row = `thumbnail_row`) and test split, for image datasets.
- `test_texts.parquet`: one column `text`, row i = test sample i, for text datasets (the
  training texts are the samples table's `text` column).
- `scores.parquet` / `baselines.parquet`: detector and baseline score columns (merged
  into samples.parquet; the manifest's `baselines` entry says which are influence and
  which label-quality methods).
- `retrain.parquet`: one row per retraining request (columns RETRAIN_COLUMNS).
"""

from __future__ import annotations

SCHEMA_VERSION = 4

MANIFEST = "manifest.json"
SAMPLES = "samples.parquet"
GRADIENTS = "gradients.npy"
FEATURES = "features.npy"
TEST_FEATURES = "test_features.npy"
ERM_OUTPUTS = "erm_outputs.npz"
FACTORS = "gradient_factors.npz"
SCORES = "scores.parquet"
BASELINES = "baselines.parquet"
EMBEDDING = "embedding.parquet"
MODEL = "model.pt"
THUMBNAILS = "thumbnails.npy"
TEST_THUMBNAILS = "test_thumbnails.npy"
TEST_TEXTS = "test_texts.parquet"
TEST_LABELS = "test_labels.npy"
BASELINE_OUTPUTS = "baseline_outputs.npz"
RETRAIN = "retrain.parquet"

# samples.parquet
SAMPLE_ID = "sample_id"
SOURCE = "source"
SPLIT = "split"
GIVEN_LABEL = "given_label"
TRUE_LABEL = "true_label"
IS_NOISY = "is_noisy"
PRED_LABEL = "pred_label"
CONFIDENCE = "confidence"
GIVEN_PROB = "given_label_prob"
LOSS = "loss"
FOLD = "fold"
GRAD_L1 = "grad_l1"
GRAD_L2 = "grad_l2"
IS_FLAGGED = "is_flagged"
UMAP_X = "umap_x"
UMAP_Y = "umap_y"
FEATURE_X = "feature_x"
FEATURE_Y = "feature_y"
THUMBNAIL_ROW = "thumbnail_row"
TEXT = "text"
"""Optional column of text datasets: the sample's text (as given; views escape and truncate it)."""
SUGGESTED_LABEL = "suggested_label"
SUGGESTED_LABEL_CONFIDENCE = "suggested_label_confidence"
"""Optional columns (filled by a later stage when present): the label a reviewer is offered instead of the
given one, and how sure the suggestion is. Readers fall back to `pred_label` when they are absent."""

SCORE_PREFIX = "score_"

REQUIRED_SAMPLE_COLUMNS = (
    SAMPLE_ID, SOURCE, SPLIT, GIVEN_LABEL, TRUE_LABEL, IS_NOISY, PRED_LABEL, CONFIDENCE, GIVEN_PROB,
    LOSS, FOLD, GRAD_L1, GRAD_L2, IS_FLAGGED, UMAP_X, UMAP_Y, FEATURE_X, FEATURE_Y, THUMBNAIL_ROW,
)
"""Besides these, one `score_<name>` column per detector (and per baseline) that was run."""

# retrain.parquet
RETRAIN_COLUMNS = (
    "request_key", "detector", "budget", "seed", "mode", "reviews_key", "n_train", "n_removed",
    "n_relabelled", "n_removed_noisy", "test_accuracy", "baseline_accuracy", "delta", "seconds", "created",
)
"""One row per (detector, budget, seed, mode, reviews); `baseline_accuracy` is the same seed and mode at
k = 0 without reviews, `delta` = test_accuracy − baseline_accuracy. Baseline rows have detector ""."""

TRAIN_SPLIT, VALIDATION_SPLIT = "train", "validation"
"""Values of the samples table's `split` column: every row is a training sample; `validation` marks the
seeded validation split (early stopping, the influence baselines' v), which is scored and flagged too."""


def score_column(name: str) -> str:
    """Column holding method `name`'s scores (higher = more outlying / harmful)."""
    return f"{SCORE_PREFIX}{name}"


def score_names(columns) -> list[str]:
    """Method names that have a score column, in column order."""
    return [c[len(SCORE_PREFIX):] for c in columns if c.startswith(SCORE_PREFIX)]
