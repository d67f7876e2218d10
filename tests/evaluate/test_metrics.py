import numpy as np
import pytest

from core.evaluate.metrics import detection_metrics


def test_known_answer():
    scores = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], dtype=float)
    truth = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    m = detection_metrics(scores, truth, budget=0.2)
    assert m["n_flagged"] == 2 and m["precision"] == 0.5
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert m["precision_at_truth"] == pytest.approx(2 / 3)
    # AUROC: of the 3 x 7 (noisy, clean) pairs, the noisy sample scores higher in 7 + 6 + 0 = 13.
    assert m["auroc"] == pytest.approx(13 / 21)


def test_perfect_and_reversed_scores():
    truth = np.zeros(100, dtype=bool)
    truth[:10] = True
    perfect = detection_metrics(-np.arange(100.0), truth, 0.1)
    assert perfect["precision"] == perfect["recall"] == perfect["auroc"] == 1.0
    assert perfect["ap"] == pytest.approx(1.0)
    reversed_ = detection_metrics(np.arange(100.0), truth, 0.1)
    assert reversed_["precision"] == 0.0 and reversed_["auroc"] == 0.0


def test_no_noisy_samples_gives_nan_threshold_free_metrics():
    m = detection_metrics(np.arange(10.0), np.zeros(10, dtype=bool), 0.2)
    assert m["precision"] == 0.0 and np.isnan(m["auroc"]) and np.isnan(m["recall"])


def test_nan_and_infinite_scores_rank_last_and_keep_the_metrics_defined():
    truth = np.array([True, True, False, False, False, False])
    scores = np.array([5.0, np.nan, 1.0, np.inf, -np.inf, 0.5])
    metrics = detection_metrics(scores, truth, 2 / 6)
    assert np.isfinite(metrics["auroc"]) and np.isfinite(metrics["ap"])
    # inf outranks everything, NaN ranks below -inf: the flagged pair is (inf, 5.0)
    assert metrics["precision"] == 0.5
    assert detection_metrics(np.full(6, np.nan), truth, 2 / 6)["auroc"] == 0.5
