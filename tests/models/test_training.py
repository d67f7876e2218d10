import io
import warnings

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.errors import ConfigError
from core.models.nets import build_model
from core.models.probe import train_linear_probe
from core.models.registry import MODELS
from core.models.training import (
    epoch_budget,
    load_model_state,
    predict_probs,
    train_model,
)

SHAPES = {"image": (3, 32, 32), "tabular": (6,), "outputs": (6,), "text": (384,)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_builds_and_runs(name):
    kind = MODELS.entry(name).meta["kinds"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if MODELS.entry(name).meta.get("solver") == "given":
            with pytest.raises(ConfigError, match="no network to build"):
                build_model(name, SHAPES["tabular"], 4, kind)
            return
        if MODELS.entry(name).meta.get("inputs") == "tokens":  # text_lora reads token ids, starts from an encoder
            from core.models.encoder import encoder_info
            from core.models.training import starting_weights

            with pytest.raises(ConfigError, match="needs a text dataset"):
                build_model(name, (2, 8), 4, kind)
            spec = starting_weights(name, TrainConfig(), encoder_info(None).__dict__).state
            model = build_model(name, (2, 8), 4, kind, spec)
            tokens = torch.ones(2, 2, 8, dtype=torch.long)
            assert model(tokens).shape == (2, 4) and model.features(tokens).shape == (2, model.feature_dim)
            return
        model = build_model(name, SHAPES[kind], 4, kind)
    out = model(torch.zeros(2, *SHAPES[kind]))
    assert out.shape == (2, 4)
    assert model.features(torch.zeros(2, *SHAPES[kind])).shape == (2, model.feature_dim)


def test_build_model_errors_list_the_options():
    with pytest.raises(ConfigError, match="valid models: cnn"):
        build_model("vit", (3, 8, 8), 2, "image")
    with pytest.raises(ConfigError, match="logreg, mlp"):
        build_model("cnn", (4,), 2, "tabular")


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centers = np.array([[0, 0], [4, 0], [0, 4]], dtype=np.float32)
    return (centers[labels] + rng.normal(size=(n, 2))).astype(np.float32), labels.astype(np.int64)


def test_training_is_seeded_and_learns():
    x, y = _blobs()
    cfg = TrainConfig(epochs=15, lr=1e-2)
    first = train_model("mlp", "tabular", x, y, 3, cfg, seed=1, show_bar=False)
    second = train_model("mlp", "tabular", x, y, 3, cfg, seed=1, show_bar=False)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert (predict_probs(first.model, x).argmax(1) == y).mean() > 0.9


def test_early_stopping_stops_and_keeps_the_best_epoch():
    x, y = _blobs()
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(len(y)) < 0.4, rng.integers(0, 3, len(y)), y)
    cfg = TrainConfig(epochs=200, patience=3, lr=1e-2)
    result = train_model("mlp", "tabular", x, noisy, 3, cfg, seed=0, show_bar=False)
    max_epochs, patience = epoch_budget(len(x) - round(cfg.val_fraction * len(x)), cfg)
    assert result.max_epochs == max_epochs and result.epochs_run < max_epochs
    assert result.best_epoch == result.epochs_run - patience
    assert result.refit and result.early_stopped is not None


def test_checkpoint_round_trip_with_weights_only():
    x, y = _blobs()
    model = train_model("logreg", "tabular", x, y, 3, TrainConfig(epochs=2), seed=0, show_bar=False).model
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = load_model_state(build_model("logreg", (2,), 3, "tabular"), state)
    np.testing.assert_array_equal(predict_probs(fresh, x), predict_probs(model, x))


def test_linear_probe_keeps_the_backbone_frozen():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(24, 3, 16, 16), dtype=np.uint8)
    y = rng.integers(0, 2, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = build_model("probe_resnet18", (3, 16, 16), 2, "image")
        torch.manual_seed(0)
        result = train_model("probe_resnet18", "image", x, y, 2, TrainConfig(epochs=2, batch_size=8, min_steps=0,
                                                                              val_fraction=0.0, pretrained=False),
                             seed=0, show_bar=False)
    trained = result.model.backbone.inner
    assert all(not p.requires_grad for p in trained.parameters())
    bn = trained.bn1
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean)), "BatchNorm statistics must not move"
    assert before.backbone.inner.conv1.weight.shape == trained.conv1.weight.shape


def test_train_linear_probe_fits_features():
    x, y = _blobs(300)
    head = train_linear_probe(x, y, 3, weight_decay=1e-4, seed=0)
    accuracy = (head(torch.as_tensor(x)).argmax(1).numpy() == y).mean()
    assert accuracy > 0.9
