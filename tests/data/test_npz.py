""".npz archives: tabular and image layouts, optional keys, validation, property round trips."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.config import DataConfig
from core.data.base import IMAGE, TABULAR
from core.data.load import load_dataset
from core.errors import DataError


def _save(tmp_path: Path, name: str = "d.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_tabular_with_string_labels_and_truth(tmp_path: Path) -> None:
    x = np.arange(40, dtype=np.float64).reshape(20, 2)
    y = np.array(["b", "a"] * 10)
    y_true = y.copy()
    y_true[0] = "c"
    data = load_dataset(DataConfig(dataset=str(_save(tmp_path, X=x, y=y, y_true=y_true))), 0)
    assert data.kind == TABULAR and data.default_model == "mlp" and data.x_train.dtype == np.float32
    assert data.class_names == ["a", "b", "c"] and len(data.x_test) == 4
    rows = [int(s.split()[1]) for s in data.source_train]
    assert np.array_equal(data.x_train, x[rows].astype(np.float32))
    assert [data.class_names[c] for c in data.given_train] == y[rows].tolist()
    assert [data.class_names[c] for c in data.true_train] == y_true[rows].tolist()


@pytest.mark.parametrize("shape, channels", [((6, 8, 8), 1), ((6, 1, 8, 8), 1), ((6, 3, 8, 8), 3),
                                             ((6, 8, 8, 3), 3), ((6, 8, 8, 1), 1)])
def test_image_layouts(tmp_path: Path, shape: tuple, channels: int) -> None:
    x = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    y = np.array([0, 1] * 3)
    data = load_dataset(DataConfig(dataset=str(_save(tmp_path, X=x, y=y, X_test=x[:2], y_test=y[:2]))), 0)
    assert data.kind == IMAGE and data.x_train.shape == (6, channels, 8, 8)
    if shape[-1] == 3:
        assert np.array_equal(data.x_train[2, :, 1, 4], x[2, 1, 4, :])
    assert data.source_train == [f"row {i}" for i in range(6)]
    assert data.class_names == ["0", "1"]


def test_float_images_scaled(tmp_path: Path) -> None:
    x = np.linspace(0, 1, 6 * 32 * 32).reshape(6, 32, 32).astype(np.float32)
    data = load_dataset(DataConfig(dataset=str(_save(tmp_path, X=x, y=np.array([0, 1] * 3)))), 0)
    assert data.x_train.dtype == np.uint8 and data.x_train.max() <= 255
    assert data.x_test.shape[1:] == (1, 32, 32)


def test_noise_injection_on_npz(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 3))
    path = _save(tmp_path, X=x, y=np.arange(50) % 5)
    data = load_dataset(DataConfig(dataset=str(path), noise="human", noise_rate=0.2), 0)
    assert (data.true_train != data.given_train).sum() == 8


def test_refuses_truth_twice(tmp_path: Path) -> None:
    path = _save(tmp_path, X=np.zeros((10, 2)), y=np.arange(10) % 2, y_true=np.arange(10) % 2)
    with pytest.raises(DataError, match="clean labels"):
        load_dataset(DataConfig(dataset=str(path), noise_rate=0.1), 0)


X4 = np.zeros((4, 2))
BAD_ARCHIVES = {
    "missing y": (dict(X=X4, labels=np.arange(4)), ["y", "found keys", "labels"]),
    "length mismatch": (dict(X=X4, y=np.arange(3)), ["key y", "(3,)", "(4,)"]),
    "y_true mismatch": (dict(X=X4, y=np.arange(4), y_true=np.arange(5)), ["y_true", "(5,)"]),
    "nan features": (dict(X=np.array([[0, 1], [np.nan, 2], [1, 1], [2, 2]]), y=np.arange(4)), ["key X", "row 1"]),
    "inf features": (dict(X=np.array([[0, 1], [1, 2], [1, np.inf], [2, 2]]), y=np.arange(4)), ["key X", "row 2"]),
    "negative labels": (dict(X=X4, y=np.array([0, 1, -2, 1])), ["'y'", "negative", "positions 2"]),
    "nan labels": (dict(X=X4, y=np.array([0, np.nan, 0, 1])), ["'y'", "missing", "positions 1"]),
    "X_test alone": (dict(X=X4, y=np.arange(4), X_test=X4), ["X_test", "y_test"]),
    "X_test shape": (dict(X=X4, y=np.arange(4), X_test=np.zeros((2, 3)), y_test=np.arange(2)), ["X_test", "(3,)"]),
    "image range": (dict(X=np.full((4, 8, 8), 2.0), y=np.arange(4)), ["key X", "[0, 1]", "2"]),
    "5-D": (dict(X=np.zeros((4, 1, 2, 2, 2)), y=np.arange(4)), ["key X", "shape"]),
    "channels": (dict(X=np.zeros((4, 5, 8, 7)), y=np.arange(4)), ["key X", "channels"]),
    "text X": (dict(X=np.array([["a", "b"]] * 4), y=np.arange(4)), ["key X", "numeric"]),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_bad_archives(tmp_path: Path, case: str) -> None:
    arrays, fragments = BAD_ARCHIVES[case]
    path = _save(tmp_path, "bad.npz", **arrays)
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset=str(path)), 0)
    message = str(err.value)
    assert "bad.npz" in message
    for fragment in fragments:
        assert fragment in message, (case, message)


def test_pickle_needed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.zeros((4, 2)), y=np.array([{"a": 1}, 2, 3, 4], dtype=object))
    with pytest.raises(DataError, match="pickle"):
        load_dataset(DataConfig(dataset=str(path)), 0)


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "fake.npz"
    path.write_bytes(pickle.dumps({"X": 1}))
    with pytest.raises(DataError, match="fake.npz"):
        load_dataset(DataConfig(dataset=str(path)), 0)
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(DataError, match="single.npz"):
        load_dataset(DataConfig(dataset=str(tmp_path / "single.npz")), 0)


# --- property-based round trips ------------------------------------------------------------------

@st.composite
def _labels(draw) -> np.ndarray:
    """2..3 classes (ints or strings), each 5..8 times, shuffled."""
    if draw(st.booleans()):
        classes = draw(st.lists(st.integers(0, 2**40), min_size=2, max_size=3, unique=True))
    else:
        classes = draw(st.lists(st.text(min_size=1, max_size=6).filter(lambda s: s.strip() and "\x00" not in s),
                                min_size=2, max_size=3, unique=True))
    labels = [c for c in classes for _ in range(draw(st.integers(5, 8)))]
    return np.array(draw(st.permutations(labels)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(y=_labels(), d=st.integers(1, 3), seed=st.integers(0, 100))
def test_property_round_trip(y: np.ndarray, d: int, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(len(y), d))
    with tempfile.TemporaryDirectory() as tmp:
        data = load_dataset(DataConfig(dataset=str(_save(Path(tmp), X=x, y=y))), seed)
    rows = [int(s.split()[1]) for s in data.source_train]
    assert [data.class_names[c] for c in data.given_train] == [str(v) for v in y[rows]]
    assert set(data.class_names) == {str(v) for v in y}
    assert np.allclose(data.x_train, x[rows], rtol=1e-6)


_ARRAYS = hnp.arrays(dtype=st.sampled_from([np.float64, np.int64, np.uint8, np.float32, np.bool_]),
                     shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))
_LABELS = st.one_of(
    hnp.arrays(dtype=st.sampled_from([np.int64, np.float64, np.int8]), shape=st.integers(0, 8)),
    st.lists(st.text(max_size=3), max_size=8).map(lambda v: np.array(v, dtype=str)),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_ARRAYS, y=_LABELS, with_truth=st.booleans(), with_test=st.booleans())
def test_property_arbitrary_archives_only_raise_data_error(x: np.ndarray, y: np.ndarray, with_truth: bool,
                                                           with_test: bool) -> None:
    arrays = {"X": x, "y": y}
    if with_truth:
        arrays["y_true"] = y[::-1]
    if with_test:
        arrays["X_test"], arrays["y_test"] = x[:2], y[:2]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            data = load_dataset(DataConfig(dataset=str(_save(Path(tmp), **arrays))), 0)
        except DataError:
            return
    if data.task == "classification":
        assert data.given_train.min() >= 0 and data.given_train.max() < data.n_classes
    else:  # a float y with fractions is a regression target (tests/data/test_npz_tasks.py)
        assert data.task == "regression" and np.isfinite(data.given_train).all()
    assert data.x_train.dtype in (np.float32, np.uint8)
