"""cleanlab label-quality baselines: wiring, orientation (higher = more likely mislabelled), input checks."""

import numpy as np
import pytest
from cleanlab.rank import get_label_quality_scores
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from core.errors import ConfigError, DataError
from core.influence.label_quality import label_quality_scores, out_of_fold_probs
from core.influence.registry import LABEL_QUALITY_METHODS

METHODS = ["self_confidence", "normalized_margin", "confidence_weighted_entropy"]


@pytest.fixture(scope="module")
def noisy_probs():
    """Predicted probabilities that favour the true class; 10% of the given labels are flipped."""
    rng = np.random.default_rng(0)
    n, n_classes = 400, 4
    true_labels = rng.integers(0, n_classes, n)
    logits = rng.normal(0.0, 1.0, (n, n_classes))
    logits[np.arange(n), true_labels] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = true_labels.copy()
    flipped = rng.choice(n, n // 10, replace=False)
    given[flipped] = (given[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes
    is_flipped = given != true_labels
    return given, probs.astype(np.float32), is_flipped


def test_registry_holds_the_three_cleanlab_classification_methods_and_one_per_other_task():
    assert list(LABEL_QUALITY_METHODS) == [*METHODS, "cleanlab_multilabel", "cleanlab_regression"]
    assert all(LABEL_QUALITY_METHODS.entry(m).meta["tasks"] == ("classification",) for m in METHODS)
    assert LABEL_QUALITY_METHODS.entry("cleanlab_multilabel").meta["tasks"] == ("multilabel",)
    assert LABEL_QUALITY_METHODS.entry("cleanlab_regression").meta["tasks"] == ("regression",)


@pytest.mark.parametrize("method", METHODS)
def test_wrong_labels_score_highest(noisy_probs, method):
    given, probs, is_flipped = noisy_probs
    harm = label_quality_scores(given, probs, method)
    assert harm.shape == (len(given),) and harm.dtype == np.float64
    assert np.all((harm >= 0) & (harm <= 1))
    auroc = roc_auc_score(is_flipped, harm)
    print(f"{method}: AUROC {auroc:.3f}")
    assert auroc > 0.9


@pytest.mark.parametrize("method", METHODS)
def test_scores_are_one_minus_cleanlab_quality(noisy_probs, method):
    given, probs, _ = noisy_probs
    direct = get_label_quality_scores(given, probs.astype(np.float64), method=method)
    np.testing.assert_allclose(label_quality_scores(given, probs, method), 1.0 - direct, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_orientation_confident_wrong_label_is_most_harmful(method):
    probs = np.array([[0.95, 0.03, 0.02], [0.6, 0.3, 0.1], [0.05, 0.9, 0.05]])
    given = np.array([0, 0, 0])  # agrees, half agrees, contradicts the prediction
    harm = label_quality_scores(given, probs, method)
    assert harm[0] < harm[1] < harm[2]


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid methods: self_confidence, normalized_margin"):
        label_quality_scores(np.array([0, 1]), np.array([[0.5, 0.5], [0.2, 0.8]]), "margin")


@pytest.mark.parametrize("labels, probs, message", [
    (np.array([0, 1, 1]), np.array([[0.5, 0.5], [0.2, 0.8]]), "3 entries but pred_probs has 2 rows"),
    (np.array([0, 1]), np.array([[0.5, 0.4], [0.2, 0.8]]), "row 0 sums to 0.9"),
    (np.array([0, 1]), np.array([[2.0, -1.0], [0.2, 0.8]]), "logits"),
    (np.array([0, 2]), np.array([[0.5, 0.5], [0.2, 0.8]]), r"labels must lie in \[0, 2\)"),
    (np.array([0, 1]), np.array([0.5, 0.5]), "pred_probs must be"),
    (np.array([[0, 1]]), np.array([[0.5, 0.5]]), "1-D"),
    (np.array([0.5, 1.0]), np.array([[0.5, 0.5], [0.2, 0.8]]), "integer"),
    (np.array([0, 1]), np.array([[np.nan, 0.5], [0.2, 0.8]]), "NaN"),
])
def test_malformed_inputs_are_clear_errors(labels, probs, message):
    with pytest.raises(DataError, match=message):
        label_quality_scores(labels, probs, "self_confidence")


def test_out_of_fold_probs_never_predict_a_seen_sample_and_find_flips():
    x, true_labels = make_blobs(n_samples=200, centers=3, cluster_std=1.5, random_state=0)
    rng = np.random.default_rng(1)
    given = true_labels.copy()
    flipped = rng.choice(len(given), 20, replace=False)
    given[flipped] = (given[flipped] + 1) % 3
    seen_by_predictor = []

    def fit_predict(train_idx, test_idx):
        seen_by_predictor.append((set(train_idx), set(test_idx)))
        return LogisticRegression().fit(x[train_idx], given[train_idx]).predict_proba(x[test_idx])

    probs = out_of_fold_probs(fit_predict, len(given), given, folds=5, seed=0)
    assert probs.shape == (200, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert all(not (train & test) for train, test in seen_by_predictor)
    assert set().union(*(test for _, test in seen_by_predictor)) == set(range(200))
    harm = label_quality_scores(given, probs, "normalized_margin")
    assert roc_auc_score(given != true_labels, harm) > 0.9
    with pytest.raises(ConfigError, match="folds"):
        out_of_fold_probs(fit_predict, len(given), given, folds=1)
