"""Closed-form and torch.func per-sample gradients against the batch-size-1 autograd loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from core.errors import ConfigError, DataError
from core.gradients.func import func_gradients, loop_gradients, select_parameters
from core.gradients.last_layer import (
    LastLayerFactors,
    closed_form_gradients,
    closed_form_norms,
    flat_head_to_kron,
    head_grads_to_kron,
    iter_closed_form_chunks,
    last_layer_factors,
)
from core.models.nets import FeatureModel, build_model


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Float32 agreement: relative 1e-4, absolute 1e-5 of the largest entry."""
    scale = max(float(np.abs(expected).max()), 1e-6)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * scale)


def _stack(chunks) -> np.ndarray:
    return np.concatenate([chunk for _, chunk in chunks])


def _mlp_case():
    torch.manual_seed(0)
    model = build_model("mlp", (5,), 3, "tabular")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 5)).astype(np.float32)
    model.set_input_stats(torch.as_tensor(x))
    labels = rng.integers(0, 3, size=10)
    return model, x, labels


def _cnn_case():
    torch.manual_seed(1)
    model = build_model("cnn", (1, 8, 8), 4, "image")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 1, 8, 8)).astype(np.float32)
    model.set_input_stats(torch.as_tensor(x))
    labels = rng.integers(0, 4, size=9)
    return model, x, labels


def _batchnorm_case():
    """A backbone with BatchNorm and Dropout, trained one step so running stats are non-trivial."""
    torch.manual_seed(2)
    backbone = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                             nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.BatchNorm1d(8), nn.ReLU())
    model = FeatureModel(backbone, 8, 3)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(7, 1, 6, 6)).astype(np.float32)
    labels = rng.integers(0, 3, size=7)
    model.train()
    model(torch.as_tensor(x) * 2 + 1)
    return model, x, labels


CASES = {"mlp": _mlp_case, "cnn": _cnn_case, "batchnorm": _batchnorm_case}


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]()


@pytest.mark.parametrize("include_bias", [True, False])
def test_closed_form_matches_func_and_loop(case, include_bias):
    model, x, labels = case
    factors = last_layer_factors(model, x, labels)
    closed = closed_form_gradients(factors, include_bias)
    assert closed.shape == (len(x), factors.width(include_bias))
    assert closed.dtype == np.float32

    names = select_parameters(model, "last")
    func = flat_head_to_kron(_stack(func_gradients(model, x, labels, param_names=names)),
                             model.n_classes, model.feature_dim, include_bias)
    loop = flat_head_to_kron(loop_gradients(model, x, labels, names), model.n_classes, model.feature_dim,
                             include_bias)
    _close(closed, loop)
    _close(func, loop)


def test_head_grads_to_kron_matches_autograd_on_one_sample():
    model, x, labels = _mlp_case()
    model.eval()
    loss = nn.functional.cross_entropy(model(torch.as_tensor(x[:1])), torch.as_tensor(labels[:1]))
    loss.backward()
    factors = last_layer_factors(model, x[:1], labels[:1])
    _close(closed_form_gradients(factors, True)[0], head_grads_to_kron(model.head.weight.grad, model.head.bias.grad))
    _close(closed_form_gradients(factors, False)[0], head_grads_to_kron(model.head.weight.grad, None))
    # kron layout by hand: class c block is [r_c * h, r_c]
    r, h = factors.residual[0], factors.features[0]
    by_hand = np.concatenate([np.append(r[c] * h, r[c]) for c in range(len(r))])
    _close(closed_form_gradients(factors, True)[0], by_hand)


def test_factors_are_consistent(case):
    model, x, labels = case
    factors = last_layer_factors(model, x, labels, batch_size=4)
    assert factors.features.shape == (len(x), model.feature_dim)
    assert factors.probs.shape == factors.residual.shape == (len(x), model.n_classes)
    assert factors.loss.shape == (len(x),)
    for array in (factors.features, factors.probs, factors.residual, factors.loss):
        assert array.dtype == np.float32
    np.testing.assert_allclose(factors.probs.sum(axis=1), 1.0, atol=1e-5)
    onehot = np.eye(model.n_classes, dtype=np.float32)[labels]
    np.testing.assert_allclose(factors.residual, factors.probs - onehot, atol=1e-6)
    np.testing.assert_allclose(factors.loss, -np.log(factors.probs[np.arange(len(x)), labels]), rtol=1e-4)
    with torch.no_grad():
        model.eval()
        expected_loss = nn.functional.cross_entropy(model(torch.as_tensor(x)), torch.as_tensor(labels),
                                                    reduction="none").numpy()
    _close(factors.loss, expected_loss)
    assert factors.width(True) == model.n_classes * (model.feature_dim + 1)
    assert factors.width(False) == model.n_classes * model.feature_dim


def test_factors_batch_size_invariant():
    model, x, labels = _cnn_case()
    whole = last_layer_factors(model, x, labels, batch_size=len(x))
    pieces = last_layer_factors(model, x, labels, batch_size=2)
    for name in ("features", "probs", "residual", "loss"):
        _close(getattr(pieces, name), getattr(whole, name))


@pytest.mark.parametrize("include_bias", [True, False])
def test_closed_form_norms_match_materialized(case, include_bias):
    model, x, labels = case
    factors = last_layer_factors(model, x, labels)
    l1, l2 = closed_form_norms(factors, include_bias)
    dense = closed_form_gradients(factors, include_bias).astype(np.float64)
    np.testing.assert_allclose(l1, np.abs(dense).sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(l2, np.linalg.norm(dense, axis=1), rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), n_classes=st.integers(2, 5), feat_dim=st.integers(1, 7), seed=st.integers(0, 2**16),
       include_bias=st.booleans())
def test_norms_factor_for_any_factors(n, n_classes, feat_dim, seed, include_bias):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, feat_dim)).astype(np.float32)
    residual = rng.normal(size=(n, n_classes)).astype(np.float32)
    factors = LastLayerFactors(features, np.zeros_like(residual), residual, np.zeros(n, np.float32))
    dense = closed_form_gradients(factors, include_bias).astype(np.float64)
    assert dense.shape == (n, factors.width(include_bias))
    l1, l2 = closed_form_norms(factors, include_bias)
    np.testing.assert_allclose(l1, np.abs(dense).sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(l2, np.linalg.norm(dense, axis=1), rtol=1e-5)


def test_func_all_parameters_match_loop(case):
    model, x, labels = case
    loop = loop_gradients(model, x, labels)
    total = sum(p.numel() for p in model.parameters())
    assert loop.shape == (len(x), total)
    func = _stack(func_gradients(model, x, labels, chunk_size=4))
    _close(func, loop)


def test_func_prefix_selection_matches_loop_columns():
    model, x, labels = _cnn_case()
    names = select_parameters(model, "backbone.0, head")
    assert names == ["backbone.0.weight", "backbone.0.bias", "head.weight", "head.bias"]
    everything = loop_gradients(model, x, labels)
    sizes = {name: p.numel() for name, p in model.named_parameters()}
    offsets = np.cumsum([0] + list(sizes.values()))
    starts = dict(zip(sizes, offsets[:-1]))
    expected = np.concatenate([everything[:, starts[n]:starts[n] + sizes[n]] for n in names], axis=1)
    _close(_stack(func_gradients(model, x, labels, param_names=["backbone.0", "head"])), expected)
    # given in another order, columns still follow named_parameters order
    _close(_stack(func_gradients(model, x, labels, param_names=["head", "backbone.0"])), expected)


@pytest.mark.parametrize("chunk_size", [1, 3, 10])
def test_chunking_is_invariant(chunk_size):
    model, x, labels = _mlp_case()
    reference = loop_gradients(model, x, labels)
    chunks = list(func_gradients(model, x, labels, chunk_size=chunk_size))
    assert [start for start, _ in chunks] == list(range(0, len(x), chunk_size))
    _close(_stack(chunks), reference)

    factors = last_layer_factors(model, x, labels)
    closed = list(iter_closed_form_chunks(factors, True, chunk_size))
    assert [start for start, _ in closed] == list(range(0, len(x), chunk_size))
    np.testing.assert_array_equal(_stack(closed), closed_form_gradients(factors, True))


def test_input_transform_is_applied():
    torch.manual_seed(3)
    model = build_model("cnn", (1, 8, 8), 2, "image")
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, size=(5, 1, 8, 8), dtype=np.uint8)
    labels = rng.integers(0, 2, size=5)

    def scale(batch):
        return torch.as_tensor(batch).float() / 255.0

    scaled = raw.astype(np.float32) / 255.0
    with_transform = last_layer_factors(model, raw, labels, input_transform=scale)
    _close(with_transform.features, last_layer_factors(model, scaled, labels).features)
    names = select_parameters(model, "all")
    _close(_stack(func_gradients(model, raw, labels, input_transform=scale)),
           loop_gradients(model, scaled, labels, names))
    _close(loop_gradients(model, raw, labels, input_transform=scale), loop_gradients(model, scaled, labels))


def test_tensor_inputs_and_mode_restored():
    model, x, labels = _mlp_case()
    model.train()
    from_numpy = last_layer_factors(model, x, labels)
    from_tensor = last_layer_factors(model, torch.as_tensor(x), torch.as_tensor(labels))
    np.testing.assert_array_equal(from_numpy.features, from_tensor.features)
    assert model.training
    list(func_gradients(model, x, labels))
    assert model.training


def test_select_parameters():
    model, _, _ = _cnn_case()
    assert select_parameters(model, "last") == ["head.weight", "head.bias"]
    assert select_parameters(model, "all") == [name for name, _ in model.named_parameters()]
    assert select_parameters(model, "head") == ["head.weight", "head.bias"]
    assert select_parameters(model, "backbone.3.weight") == ["backbone.3.weight"]
    with pytest.raises(ConfigError, match="top-level names: backbone, head"):
        select_parameters(model, "encoder")
    # prefixes match at '.' boundaries only
    with pytest.raises(ConfigError, match="'backbone.3.w'"):
        select_parameters(model, "backbone.3.w")
    with pytest.raises(ConfigError):
        select_parameters(model, " , ")
    model.head.bias.requires_grad_(False)
    assert select_parameters(model, "all")[-1] == "head.weight"
    with pytest.raises(ConfigError):
        list(func_gradients(model, np.zeros((1, 1, 8, 8), np.float32), np.zeros(1), param_names=["nope"]))


def test_bad_labels_are_data_errors():
    model, x, labels = _mlp_case()
    with pytest.raises(DataError, match="labels must lie"):
        last_layer_factors(model, x, np.full(len(x), 3))
    with pytest.raises(DataError, match="10 inputs but 9 labels"):
        last_layer_factors(model, x, labels[:9])


def test_head_factors_read_only_features_match_and_do_not_warn(tmp_path, recwarn):
    """features.npy opened as a read-only memory map gives the same factors as the array itself."""
    from core.gradients.last_layer import head_factors

    rng = np.random.default_rng(0)
    features = rng.standard_normal((50, 6)).astype(np.float32)
    labels = rng.integers(0, 4, 50)
    np.save(tmp_path / "features.npy", features)
    head = torch.nn.Linear(6, 4)
    mapped = head_factors(head, np.load(tmp_path / "features.npy", mmap_mode="r"), labels, batch_size=16)
    direct = head_factors(head, features, labels, batch_size=16)
    for name in ("features", "probs", "residual", "loss"):
        np.testing.assert_array_equal(getattr(mapped, name), getattr(direct, name))
    assert not [w for w in recwarn if "not writable" in str(w.message)]
