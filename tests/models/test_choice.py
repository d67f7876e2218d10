"""`--model auto` and pretrained weights: the rule of core.models.choice, and weights from a local file."""

from __future__ import annotations

import dataclasses

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


@pytest.mark.parametrize("shape", [(1, 28, 56), (1, 8, 8), (3, 20, 20)])
def test_small_multilabel_images_get_the_cnn_pooled_over_positions(shape):
    images = _images(shape[0], shape[1])
    x = np.zeros((8, *shape), np.uint8)
    tags = np.eye(2, dtype=np.uint8)[np.arange(8) % 2]
    images = dataclasses.replace(images, x_train=x, given_train=tags, x_test=x[:2], y_test=tags[:2], task="multilabel")
    choice = choose_model(images, TrainConfig())
    assert choice.name == "cnn_pool" and "multi-label" in choice.reason
    model = build_model("cnn_pool", shape, 10, IMAGE)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_the_pooled_cnn_sees_a_digit_on_either_side_alike():
    """The same 16-px patch on the left or the right half of a 28x56 image: the pooled CNN's features agree to a
    few percent (only the zero padding at the borders differs), the small CNN's flattened map does not."""
    from core.models.nets import build_cnn, build_cnn_pool

    torch.manual_seed(0)
    patch = torch.rand(16, 16)
    left, right = torch.zeros(1, 1, 28, 56), torch.zeros(1, 1, 28, 56)
    left[0, 0, 6:22, 8:24], right[0, 0, 6:22, 32:48] = patch, patch
    for build, bound in ((build_cnn_pool, lambda change: change < 0.1), (build_cnn, lambda change: change > 0.3)):
        model = build((1, 28, 56), 10, None).eval()
        with torch.no_grad():
            a, b = model.features(left), model.features(right)
        assert bound(((a - b).norm() / a.norm()).item()), build.__name__


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
