"""Training converges with every default, on every embedded dataset and three seeds (no tuning per dataset)."""

from __future__ import annotations

import pytest

from core.config import DataConfig, TrainConfig
from core.data.load import load_dataset
from core.models.choice import choose_model
from core.models.training import predict_probs, train_model

pytestmark = pytest.mark.slow

FLOOR = {"blobs": 0.95, "moons": 0.85, "digits": 0.95, "mnist5k": 0.90}


@pytest.mark.parametrize("dataset", list(FLOOR))
def test_defaults_reach_a_sensible_test_accuracy_on_three_seeds(dataset):
    accuracies = []
    for seed in range(3):
        data = load_dataset(DataConfig(dataset=dataset), seed)
        cfg = TrainConfig()
        model = choose_model(data, cfg).name
        result = train_model(model, data.kind, data.x_train, data.given_train, data.n_classes, cfg, seed,
                             show_bar=False)
        accuracies.append(float((predict_probs(result.model, data.x_test).argmax(1) == data.y_test).mean()))
    assert min(accuracies) >= FLOOR[dataset], (dataset, accuracies)
