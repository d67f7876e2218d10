"""The one place that names the run directory's files and columns.

A run directory (written by `gradsift analyze`) holds:

- `manifest.json`: schema version, full config (exactly what was hashed), package versions, dataset
  facts and fingerprint, class names, per-stage timings, results and fingerprints (a stage is
  re-run when what it reads changes: core.pipeline.fingerprints), `flagging` (the resolved decision:
  detector, budget, auto, count, n; core.detect.flagging.Flagging) and `history` (one entry per
  re-analysis that changed the config: the fields and the stages re-run).
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
- `oof_probs.npy`: float32 (n_train, C) out-of-fold probabilities (models that never saw the
  sample's label), written by the suggest stage; cleanlab's baselines read them too.
- `suggestions.parquet`: the suggested label, its confidence and the runner-up per training
  sample, and each sample's estimated probability of a wrong label (merged into samples.parquet);
  the manifest's `suggested_budget` holds the noise-rate estimate and its interval.
- `rerank.parquet`: the review loop's latest re-ranking (`gradsift rerank`, core.review.rerank): one row
  per training sample (RERANK_COLUMNS), its footer's facts naming the decisions it was made from and the
  re-estimated number of errors left among the unreviewed. samples.parquet's static ranking is never
  rewritten by it.
- `reviews.sqlite` / `test_reviews.sqlite`: the reviewers' decisions on training / test samples
  (core.run.reviews); kept across re-analyses while the training samples are unchanged. Since votes exist
  the file holds votes and adjudications (`reviews`), settings, gold marks and leases, at
  core.run.review_db.REVIEW_DB_VERSION in SQLite's `user_version`; an older file is migrated on open.
- `conflicts.parquet`: near-duplicate pairs with conflicting given labels (`gradsift conflicts`,
  core.review.duplicates; columns CONFLICT_COLUMNS), the search's settings in its footer.
"""

from __future__ import annotations

SCHEMA_VERSION = 7
"""7: gradient_factors.npz holds `residual_l2` (‖r‖ per sample, the `residual` detector's score) and every default
run scores `residual`; older runs are refused with the command that re-analyzes them."""

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
OOF_PROBS = "oof_probs.npy"
SUGGESTIONS = "suggestions.parquet"
RERANK = "rerank.parquet"
CONFLICTS = "conflicts.parquet"
REVIEWS = "reviews.sqlite"
TEST_REVIEWS = "test_reviews.sqlite"

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
RUNNER_UP_LABEL = "runner_up_label"
RUNNER_UP_CONFIDENCE = "runner_up_label_confidence"
"""The label a reviewer is offered (the top class of `suggest.label_suggester`'s probabilities; it may equal
the given label), its probability, and the second most likely class with its probability (suggest stage).
Readers of older tables (exports of user-made frames) fall back to `pred_label` when they are absent."""
NOISE_PROBABILITY = "noise_probability"
"""The default noise-rate estimator's probability that the given label is wrong, (n,) float64 in [0, 1],
summing to about the suggested budget × n: the mean over a flagged set is its estimated precision."""
SUGGESTION_COLUMNS = (SUGGESTED_LABEL, SUGGESTED_LABEL_CONFIDENCE, RUNNER_UP_LABEL, RUNNER_UP_CONFIDENCE,
                      NOISE_PROBABILITY)

# Multi-label runs (core.tasks.multilabel) hold these instead of the label columns above: tag index lists.
GIVEN_TAGS = "given_tags"
TRUE_TAGS = "true_tags"
"""list<int64> tag indices into the class names; null when the truth is unknown."""
PRED_TAGS = "pred_tags"
SUGGESTED_TAGS = "suggested_tags"
TAG_PROBS = "tag_probs"
"""list<float32> (C,) the analyzed model's sigmoid per tag."""
SUGGESTED_TAG_CONFIDENCE = "suggested_tag_confidence"
"""list<float32> (C,) how sure the suggestion is of each tag's presence or absence: max(p, 1 − p)."""
TAG_COLUMNS = (GIVEN_TAGS, TRUE_TAGS, PRED_TAGS, SUGGESTED_TAGS, TAG_PROBS, SUGGESTED_TAG_CONFIDENCE)

# Regression runs (core.tasks.regression) hold these instead: values in the target's units.
GIVEN_VALUE = "given_value"
TRUE_VALUE = "true_value"
"""Nullable Float64: null when the truth is unknown."""
PRED_VALUE = "pred_value"
SUGGESTED_VALUE = "suggested_value"
SUGGESTED_LOW = "suggested_low"
SUGGESTED_HIGH = "suggested_high"
"""The suggested value's interval."""
RESIDUAL_VALUE = "residual_value"
"""pred_value − given_value."""
VALUE_COLUMNS = (GIVEN_VALUE, TRUE_VALUE, PRED_VALUE, SUGGESTED_VALUE, SUGGESTED_LOW, SUGGESTED_HIGH, RESIDUAL_VALUE)

SCORE_PREFIX = "score_"

COMMON_SAMPLE_COLUMNS = (
    SAMPLE_ID, SOURCE, SPLIT, IS_NOISY, LOSS, FOLD, GRAD_L1, GRAD_L2, IS_FLAGGED, UMAP_X, UMAP_Y, FEATURE_X,
    FEATURE_Y, THUMBNAIL_ROW, NOISE_PROBABILITY,
)
"""The columns of every task kind's samples table."""
TASK_SAMPLE_COLUMNS = {"multilabel": TAG_COLUMNS, "regression": VALUE_COLUMNS}
"""A non-classification task's own columns, by task name."""
REQUIRED_SAMPLE_COLUMNS = (
    SAMPLE_ID, SOURCE, SPLIT, GIVEN_LABEL, TRUE_LABEL, IS_NOISY, PRED_LABEL, CONFIDENCE, GIVEN_PROB,
    LOSS, FOLD, GRAD_L1, GRAD_L2, IS_FLAGGED, UMAP_X, UMAP_Y, FEATURE_X, FEATURE_Y, THUMBNAIL_ROW,
    *SUGGESTION_COLUMNS,
)
"""A classification run's columns; besides these, one `score_<name>` column per detector (and per baseline)
that was run. Multi-label runs have COMMON_SAMPLE_COLUMNS + TAG_COLUMNS, regression runs
COMMON_SAMPLE_COLUMNS + VALUE_COLUMNS."""

# retrain.parquet
RETRAIN_COLUMNS = (
    "request_key", "detector", "budget", "seed", "mode", "reviews_key", "n_train", "n_removed",
    "n_relabelled", "n_removed_noisy", "test_accuracy", "baseline_accuracy", "delta", "metric", "seconds", "created",
)
"""One row per (detector, budget, seed, mode, reviews); `baseline_accuracy` is the same seed and mode at
k = 0 without reviews, `delta` = test_accuracy − baseline_accuracy. Baseline rows have detector "".
`test_accuracy` holds the task's primary metric, named by `metric` (accuracy; micro_f1 for multi-label;
rmse for regression, where lower is better: core.tasks.registry)."""

# rerank.parquet
RERANK_SCORE = "rerank_score"
RERANK_RANK = "rerank_rank"
WAS_REVIEWED = "was_reviewed"
RERANK_DISAGREES = "rerank_disagrees"
RERANK_COLUMNS = (SAMPLE_ID, RERANK_SCORE, RERANK_RANK, WAS_REVIEWED, RERANK_DISAGREES)
"""`rerank_score` (higher = more likely mislabeled, given what the reviewer said), `rerank_rank` (1 = review
next; 0 for samples already reviewed when the re-ranking was made), `was_reviewed`, and `rerank_disagrees`
(the refit model predicts another label than the sample's label after the reviews: what the estimate of the
errors left counts)."""

# conflicts.parquet
CONFLICT_COLUMNS = ("sample_a", "sample_b", "distance", "given_a", "given_b", "neighbor_rank", "mutual")
"""Two sample ids (a < b), their feature-space distance, their given labels (in the run's label form: int64
classes, float64 values, tag sets as JSON text "[1, 3]": core.run.label_forms encode/decode), the best rank of
either in the other's neighbour list (1 = nearest) and whether each is among the other's neighbours. Written
after analysis and checked on read (core.review.conflicts.read_conflicts), so it carries no schema version:
a classification run's file is as before; multi-label and regression runs had none before."""

TRAIN_SPLIT, VALIDATION_SPLIT = "train", "validation"
"""Values of the samples table's `split` column: every row is a training sample; `validation` marks the
seeded validation split (early stopping, the influence baselines' v), which is scored and flagged too."""


def score_column(name: str) -> str:
    """Column holding method `name`'s scores (higher = more outlying / harmful)."""
    return f"{SCORE_PREFIX}{name}"


def score_names(columns) -> list[str]:
    """Method names that have a score column, in column order."""
    return [c[len(SCORE_PREFIX):] for c in columns if c.startswith(SCORE_PREFIX)]
