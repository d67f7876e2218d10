"""A trained model's outputs as input: .npz and parquet, checked, analyzed without training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig
from core.data.base import OUTPUTS
from core.data.load import load_dataset
from core.errors import DataError


def _outputs(n: int = 120, d: int = 8, c: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    features = rng.normal(size=(n, d)).astype(np.float32) + np.eye(c, d)[y] * 3
    logits = features[:, :c] * 2
    return features, logits, y


def _npz(tmp_path, name="out.npz", **arrays):
    np.savez(tmp_path / name, **arrays)
    return str(tmp_path / name)


def test_npz_with_logits_and_a_test_split(tmp_path):
    features, logits, y = _outputs()
    path = _npz(tmp_path, features=features, logits=logits, y=y, y_true=y, features_test=features[:20],
                logits_test=logits[:20], y_test=y[:20], id=np.arange(100, 220), class_names=np.array(["a", "b", "c"]))
    data = load_dataset(DataConfig(dataset=path), 0)
    assert data.kind == OUTPUTS and data.default_model == "given"
    assert data.x_train.shape == (120, 8) and data.x_test.shape == (20, 8)
    np.testing.assert_allclose(data.train_probs.sum(axis=1), 1, atol=1e-6)
    assert np.array_equal(data.train_probs.argmax(1), logits.argmax(1))
    assert data.class_names == ["a", "b", "c"] and data.source_train[0] == "100"


def test_parquet_form(tmp_path):
    features, logits, y = _outputs()
    split = np.where(np.arange(120) < 100, "train", "test")
    table = pd.DataFrame({"features": list(features), "logits": list(logits), "label": y, "true_label": y,
                          "split": split, "id": [f"s{i}" for i in range(120)]})
    table.to_parquet(tmp_path / "out.parquet")
    data = load_dataset(DataConfig(dataset=str(tmp_path / "out.parquet")), 0)
    assert data.kind == OUTPUTS and len(data.x_train) == 100 and len(data.x_test) == 20
    assert data.source_train[0] == "s0"


BAD = {
    "features and logits disagree on n": (lambda f, lg, y: dict(features=f, logits=lg[:-1], y=y), "rows of logits"),
    "NaN features": (lambda f, lg, y: dict(features=np.where(np.arange(len(f))[:, None] == 3, np.nan, f),
                                           logits=lg, y=y), "NaN or infinite values in 1 rows, first at row 3"),
    "probabilities that do not sum to 1": (lambda f, lg, y: dict(features=f, probs=np.full(lg.shape, 0.5), y=y),
                                           "must sum to 1"),
    "labels beyond the logits' classes": (lambda f, lg, y: dict(features=f, logits=lg, y=y + 5),
                                          "but the logits have 3 classes"),
    "both logits and probs": (lambda f, lg, y: dict(features=f, logits=lg, probs=lg, y=y), "exactly one of"),
    "wrong test width": (lambda f, lg, y: dict(features=f, logits=lg, y=y, features_test=f[:5, :4],
                                               logits_test=lg[:5], y_test=y[:5]), "test features have shape"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_outputs_are_one_line(tmp_path, case):
    make, fragment = BAD[case]
    path = _npz(tmp_path, **make(*_outputs()))
    with pytest.raises(DataError, match=fragment):
        load_dataset(DataConfig(dataset=path), 0)


def test_an_outputs_run_trains_nothing_and_refuses_what_needs_a_network(tmp_path):
    from core.config import GradientConfig, RetrainConfig
    from core.errors import ConfigError
    from core.pipeline.retrain import retrain
    from core.pipeline.runner import analyze
    from core.run import schema
    from tests.conftest import fast_config

    features, logits, y = _outputs(n=300)
    noisy = y.copy()
    noisy[:15] = (noisy[:15] + 1) % 3
    path = _npz(tmp_path, features=features, logits=logits, y=noisy, y_true=y, features_test=features[:50],
                logits_test=logits[:50], y_test=y[:50])
    run = analyze(fast_config(path), tmp_path / "run")
    manifest = run.read_manifest()
    assert manifest["model"]["solver"] == "given" and manifest["model"]["name"] == "given"
    samples = run.read_samples()
    assert samples[schema.IS_FLAGGED].sum() == 15 and samples[schema.IS_NOISY].sum() == 15
    # the closed form of the given outputs: ‖p − e_y‖·‖[h, 1]‖
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    residual = probs.copy()
    residual[np.arange(300), noisy] -= 1
    expected = np.linalg.norm(residual, axis=1) * np.sqrt((features ** 2).sum(1) + 1)
    np.testing.assert_allclose(samples[schema.GRAD_L2], expected, rtol=1e-4, atol=1e-6)  # float32 softmax
    with pytest.raises(ConfigError, match="no model to retrain"):
        retrain(run, "l2", 0.05, mode="full")
    with pytest.raises(ConfigError, match="in-sample last-layer gradients only"):
        analyze(fast_config(path, gradients=GradientConfig(mode="cross_fit")), tmp_path / "cross")
    with pytest.raises(ConfigError, match="retrain.mode must be 'probe'"):
        analyze(fast_config(path, retrain=RetrainConfig(mode="full")), tmp_path / "full")
