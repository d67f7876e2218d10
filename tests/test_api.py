"""The notebook API: analyze a dataset or a model's arrays and read the results as objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import api
from core.errors import ConfigError
from core.run import schema


def test_a_model_s_arrays_in_results_out(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    features = rng.normal(size=(400, 6)).astype(np.float32) + np.eye(3, 6)[y] * 3
    logits = 2 * features[:, :3]
    noisy = y.copy()
    noisy[:20] = (noisy[:20] + 1) % 3
    result = api.analyze(features=features, logits=logits, labels=noisy, true_labels=y,
                         features_test=features[:80], logits_test=logits[:80], labels_test=y[:80],
                         embed__method="pca", budget=0.05, detectors=("l2", "iforest"))
    assert result.run_dir.parent == tmp_path / "cache" / "gradsift" / "runs"
    assert isinstance(result.samples, pd.DataFrame) and len(result.samples) == 400
    flagged = result.flagged_ids
    assert len(flagged) == 20 and set(flagged) == set(result.samples.loc[result.samples[schema.IS_FLAGGED],
                                                                         schema.SAMPLE_ID])
    scores = result.samples.set_index(schema.SAMPLE_ID)[schema.score_column("l2")]
    assert list(scores.loc[flagged]) == sorted(scores.loc[flagged], reverse=True)  # most outlying first
    assert result.metrics.set_index("method").loc["l2", "precision"] > 0.8
    assert result.report["n_train"] == 400 and result.report["primary"] == "l2"
    summary = result.retrain(seeds=2)
    assert summary.seeds == [0, 1] and summary.mode == "probe"


def test_a_named_dataset_into_a_named_directory(tmp_path):
    result = api.analyze(dataset="blobs", out=tmp_path / "blobs", embed__method="pca", baselines__enabled=False,
                         retrain__seeds=2)
    assert result.run_dir == tmp_path / "blobs" and len(result.samples) == 150
    assert result.report["test_accuracy"] >= 0.95


@pytest.mark.parametrize("kwargs, fragment", [
    ({}, "give either dataset="),
    ({"dataset": "blobs", "features": np.zeros((3, 2))}, "give either dataset="),
    ({"features": np.zeros((3, 2)), "logits": np.zeros((3, 2))}, "needs labels="),
    ({"dataset": "blobs", "folds": 3}, "ambiguous; write one of gradients__folds, baselines__folds"),
    ({"dataset": "blobs", "colour": "red"}, "unknown setting 'colour'"),
])
def test_mistakes_are_one_line(tmp_path, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        api.analyze(out=tmp_path / "run", **kwargs)
