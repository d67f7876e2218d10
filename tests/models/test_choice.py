"""`--model auto` and pretrained weights: the rule of core.models.choice, and weights from a local file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import RunConfig, TrainConfig
from core.data.base import IMAGE, TABULAR, Dataset
from core.errors import ConfigError
from core.models.choice import choose_model
from core.models.nets import build_model


def _images(channels: int, side: int, n: int = 8) -> Dataset:
    x = np.zeros((n, channels, side, side), np.uint8)
    y = np.arange(n) % 2
    return Dataset("imgs", IMAGE, x, y, None, x[:2], y[:2], ["a", "b"], [str(i) for i in range(n)])


@pytest.mark.parametrize("channels, side, expected", [(1, 8, "cnn"), (1, 64, "cnn"), (3, 16, "cnn")])
def test_small_or_grayscale_images_get_the_small_cnn(channels, side, expected):
    assert choose_model(_images(channels, side), TrainConfig()).name == expected


def test_colour_images_without_weights_on_a_cpu_get_the_cnn_and_say_so():
    choice = choose_model(_images(3, 32), TrainConfig(pretrained=False, device="cpu"))
    assert choice.name == "cnn" and "no GPU" in choice.reason and "--no-pretrained" in choice.reason


def _resnet_weights(tmp_path, name="resnet18.pth"):
    from torchvision import models as tv_models

    torch.manual_seed(3)
    state = tv_models.resnet18(weights=None).state_dict()
    path = tmp_path / name
    torch.save(state, path)
    return path, state


def test_colour_images_with_a_weights_file_get_a_linear_probe_on_it(tmp_path):
    path, state = _resnet_weights(tmp_path)
    choice = choose_model(_images(3, 32), TrainConfig(weights=str(path)))
    assert choice.name == "probe_resnet18" and str(path) in choice.reason and "sha256" in choice.reason
    from core.models.weights import load_state_file

    model = build_model("probe_resnet18", (3, 32, 32), 2, IMAGE, load_state_file(path))
    np.testing.assert_array_equal(model.backbone.inner.conv1.weight.detach(), state["conv1.weight"])
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_the_weights_file_enters_the_fingerprint_by_its_content(tmp_path):
    first, _ = _resnet_weights(tmp_path, "a.pth")
    base = RunConfig(train=TrainConfig(weights=str(first))).fingerprint()
    first.write_bytes(first.read_bytes()[:-64] + b"\0" * 64)  # same path, other content
    assert RunConfig(train=TrainConfig(weights=str(first))).fingerprint() != base


def test_bad_weights_files_are_one_line(tmp_path):
    from core.models.weights import load_state_file

    with pytest.raises(ConfigError, match="no such file"):
        load_state_file(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable state dict"):
        load_state_file(tmp_path / "junk.pth")


def test_tabular_data_keeps_the_dataset_default():
    x = np.zeros((6, 2), np.float32)
    y = np.arange(6) % 2
    data = Dataset("t", TABULAR, x, y, None, x[:2], y[:2], ["a", "b"], [str(i) for i in range(6)],
                   default_model="logreg")
    assert choose_model(data, TrainConfig()).name == "logreg"
