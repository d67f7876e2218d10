"""The last-layer Hessian for sigmoid and squared-error heads against autograd, and cleanlab's multi-label and
regression label-quality scores as harm scores."""

import numpy as np
import pytest
import torch

from core.influence.baselines import label_quality_baselines
from core.influence.hessians import last_layer_hessian, last_layer_hvp
from core.influence.label_quality import label_quality_scores
from core.tasks.base import make_task


def autograd_head_hessian(task, features: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Hessian of mean_i ℓ(W h̃_i, y_i) in θ = W (C, D + 1) flattened class-major: the kron layout."""
    h_aug = torch.as_tensor(np.hstack([features, np.ones((len(features), 1))]), dtype=torch.float64)
    targets = task.targets(labels).double()

    def loss(theta: torch.Tensor) -> torch.Tensor:
        outputs = h_aug @ theta.reshape(weights.shape).T
        if task.name == "multilabel":
            bce = torch.nn.functional.binary_cross_entropy_with_logits(outputs, targets, reduction="none")
            return bce.sum(1).mean()
        return (0.5 * (outputs - targets) ** 2).sum(1).mean()

    return torch.autograd.functional.hessian(loss, torch.as_tensor(weights.reshape(-1))).numpy()


@pytest.mark.parametrize("task_name", ["multilabel", "regression"])
def test_the_last_layer_hessian_matches_autograd(task_name):
    rng = np.random.default_rng(0)
    n, width, outputs = 30, 3, 4 if task_name == "multilabel" else 1
    features = rng.normal(size=(n, width))
    weights = rng.normal(size=(outputs, width + 1))
    if task_name == "multilabel":
        labels = (rng.random((n, outputs)) < 0.4).astype(np.uint8)
    else:
        labels = rng.normal(50, 10, n)
    task = make_task(task_name, labels)
    raw = np.hstack([features, np.ones((n, 1))]) @ weights.T
    preds = task.predict(torch.as_tensor(raw, dtype=torch.float64)).double().numpy()
    expected = autograd_head_hessian(task, features, weights, labels)
    dense = last_layer_hessian(features, preds, True, 0.0, task=task)
    assert dense == pytest.approx(expected, abs=1e-5)
    vectors = rng.normal(size=(outputs * (width + 1), 2))
    assert last_layer_hvp(features, preds, True, 0.0, task=task)(vectors) == pytest.approx(expected @ vectors, abs=1e-5)


def test_multilabel_harm_is_higher_for_the_tag_set_the_model_disputes():
    sigmoids = np.array([[0.95, 0.05, 0.9], [0.95, 0.05, 0.9], [0.9, 0.1, 0.1]])
    given = np.array([[1, 0, 1], [0, 1, 1], [1, 0, 0]], np.uint8)  # row 1 has two tags the model disputes
    harm = label_quality_scores(given, sigmoids, "cleanlab_multilabel", "multilabel")
    assert ((0 <= harm) & (harm <= 1)).all()
    assert harm[1] > max(harm[0], harm[2])


def test_regression_harm_keeps_cleanlabs_order_where_one_minus_quality_would_round_to_one():
    rng = np.random.default_rng(3)
    truth = rng.normal(100, 10, 200)
    predictions = truth + rng.normal(0, 2, 200)
    given = truth.copy()
    given[17], given[40] = truth[17] * 10, truth[40] * 3
    from cleanlab.regression.rank import get_label_quality_scores

    quality = get_label_quality_scores(given, predictions)
    harm = label_quality_scores(given, predictions[:, None], "cleanlab_regression", "regression")
    assert (np.argsort(harm, kind="stable")[::-1][:2] == [17, 40]).all()
    assert np.array_equal(np.argsort(-harm, kind="stable"), np.argsort(quality, kind="stable"))


def test_methods_that_do_not_apply_to_the_task_are_skipped_with_the_reason():
    given = np.array([10.0, 12.0, 100.0, 9.0, 11.0, 10.5])
    predictions = np.array([[11.0], [12.0], [10.0], [9.5], [11.0], [10.0]])
    scores = label_quality_baselines(given, predictions, ("self_confidence", "cleanlab_regression"), "regression")
    assert list(scores.columns) == ["cleanlab_regression"]
    assert scores.facts["skipped"] == {"self_confidence": "applies to classification runs, not regression"}


def test_cleanlab_regression_scores_large_sets_in_blocks_and_still_ranks_wild_values_first(monkeypatch):
    from core.influence import label_quality

    monkeypatch.setattr(label_quality, "REGRESSION_BLOCK_ROWS", 50)
    rng = np.random.default_rng(0)
    predictions = rng.normal(100.0, 10.0, 200)
    values = predictions + rng.normal(0.0, 1.0, 200)
    wild = np.array([3, 77, 140, 199])
    values[wild] *= 10.0
    harm = label_quality.regression_quality_scores(values, predictions, "outre", seed=1)
    assert harm.shape == (200,) and np.isfinite(harm).all()
    assert set(np.argsort(-harm)[:4]) == set(wild.tolist())
    again = label_quality.regression_quality_scores(values, predictions, "outre", seed=1)
    np.testing.assert_array_equal(harm, again)
