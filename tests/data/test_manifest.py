"""CSV and parquet manifests: label mapping, splits, image paths, features, and every error path."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.config import DataConfig
from core.data.base import IMAGE, TABULAR
from core.data.load import load_dataset
from core.data.manifest import encode_labels, load_manifest
from core.errors import DataError


def _features_table(n: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "label": np.where(np.arange(n) % 2 == 0, "spam", "ham"),
        "f1": rng.normal(size=n),
        "f2": rng.integers(0, 5, size=n),
        "comment": ["text"] * n,
    })


def test_parquet_features_with_string_labels(tmp_path: Path) -> None:
    path = tmp_path / "mail.parquet"
    table = _features_table()
    table.to_parquet(path)
    data = load_dataset(DataConfig(dataset=str(path)), 0)
    assert data.kind == TABULAR and data.default_model == "mlp" and data.name == "mail.parquet"
    assert data.class_names == ["ham", "spam"]
    assert data.x_train.dtype == np.float32 and data.x_train.shape == (16, 2)
    rows = [int(s.split()[1]) for s in data.source_train]
    assert [data.class_names[c] for c in data.given_train] == table["label"].iloc[rows].tolist()
    assert np.allclose(data.x_train[:, 0], table["f1"].iloc[rows])
    notes = " | ".join(data.notes)
    assert "2 numeric feature columns: f1, f2" in notes and "ignored 1 non-numeric columns: comment" in notes


def test_csv_with_images_split_and_true_label(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(6):
        Image.fromarray(np.full((8, 8), i * 40, dtype=np.uint8), mode="L").save(tmp_path / "img" / f"{i}.png")
        rows.append({"path": f"img/{i}.png", "label": i % 2, "true_label": 2 if i == 0 else i % 2,
                     "split": "test" if i >= 4 else "train", "sample_id": f"s{i}"})
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    data = load_dataset(DataConfig(dataset=str(path)), 0)
    assert data.kind == IMAGE and data.x_train.shape == (4, 1, 8, 8)
    assert data.class_names == ["0", "1", "2"]
    assert data.source_train == [f"img/{i}.png" for i in range(4)]
    assert data.true_train.tolist() == [2, 1, 0, 1] and data.given_train.tolist() == [0, 1, 0, 1]
    assert data.x_train[1, 0, 0, 0] == 40


def test_integer_labels_are_compacted_and_named(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    pd.DataFrame({"label": [3, 7, 3, 7, 3, 7, 3, 7, 10, 10], "x": range(10)}).to_csv(path, index=False)
    data = load_manifest(path, DataConfig(dataset=str(path)), 0)
    assert data.class_names == ["3", "7", "10"]


def test_noise_injection_on_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    _features_table(100).to_parquet(path)
    data = load_dataset(DataConfig(dataset=str(path), noise="pairflip", noise_rate=0.1), 0)
    assert (data.true_train != data.given_train).sum() == 8
    assert any("10% pairflip noise: 8 labels changed" in note for note in data.notes)


def _write(tmp_path: Path, table: pd.DataFrame, suffix: str = ".csv") -> Path:
    path = tmp_path / f"bad{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path)
    return path


BAD_TABLES = {
    "no label column": (pd.DataFrame({"lbl": [1, 2], "x": [1.0, 2.0]}), ["'label'", "lbl", "x"]),
    "missing labels": (pd.DataFrame({"label": ["a", None, "b", "", "a"], "x": range(5)}), ["label", "rows 1, 3"]),
    "negative labels": (pd.DataFrame({"label": [0, -1, 1, 2], "x": range(4)}), ["label", "negative", "rows 1"]),
    "fractional labels": (pd.DataFrame({"label": [0.5, 1.0, 2.0], "x": range(3)}), ["label", "0.5"]),
    "nan feature": (pd.DataFrame({"label": [0, 1, 0, 1], "x": [1.0, np.nan, 2.0, 3.0]}), ["'x'", "row 1"]),
    "inf feature": (pd.DataFrame({"label": [0, 1, 0, 1], "y": [1.0, 2.0, 3.0, np.inf]}), ["'y'", "row 3"]),
    "no features": (pd.DataFrame({"label": [0, 1, 0, 1], "name": list("abcd")}), ["no numeric feature", "name"]),
    "duplicate ids": (pd.DataFrame({"label": [0, 1, 0], "x": [1, 2, 3], "sample_id": ["a", "b", "a"]}),
                      ["sample_id", "a"]),
    "bad split": (pd.DataFrame({"label": [0, 1, 0], "x": [1, 2, 3], "split": ["train", "val", "test"]}),
                  ["split", "'val'", "rows 1"]),
    "missing image": (pd.DataFrame({"label": [0, 1], "path": ["nope.png", "gone.png"]}), ["nope.png", "gone.png"]),
    "empty true label": (pd.DataFrame({"label": [0, 1, 0], "true_label": [0, None, 1], "x": [1, 2, 3]}),
                         ["true_label", "rows 1"]),
}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_manifests(tmp_path: Path, case: str, suffix: str) -> None:
    table, fragments = BAD_TABLES[case]
    path = _write(tmp_path, table, suffix)
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset=str(path)), 0)
    message = str(err.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, (case, message)


def test_unreadable_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="broken.parquet"):
        load_dataset(DataConfig(dataset=str(broken)), 0)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv"):
        load_dataset(DataConfig(dataset=str(empty)), 0)


def test_image_path_to_non_image(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_text("text")
    path = _write(tmp_path, pd.DataFrame({"label": [0, 1], "path": ["a.png", "a.png"]}))
    with pytest.raises(DataError, match="a.png"):
        load_dataset(DataConfig(dataset=str(path)), 0)


def test_csv_class_names_that_look_missing(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("label,x\n" + "".join(f"{name},{i}\n" for i, name in enumerate(["NA", "None", "nan"] * 4)))
    data = load_dataset(DataConfig(dataset=str(path)), 0)
    assert data.class_names == ["NA", "None", "nan"]


def test_csv_empty_label_cell_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("label,x\na,1\n,2\nb,3\n")
    with pytest.raises(DataError, match="rows 1"):
        load_dataset(DataConfig(dataset=str(path)), 0)


def test_encode_labels_mixed_columns() -> None:
    codes, names = encode_labels({"label": np.array(["b", "a"]), "true_label": np.array([1, 2])}, "x")
    assert names == ["1", "2", "a", "b"]
    assert codes["label"].tolist() == [3, 2] and codes["true_label"].tolist() == [0, 1]


# --- property-based round trips ------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-"
_NAME = st.one_of(st.text(alphabet=_LETTERS, min_size=1, max_size=8),
                  st.sampled_from(["NA", "None", "nan", "null", "inf", "N/A", "cat dog", "é"]))


@st.composite
def _label_columns(draw) -> list:
    """3..4 classes (ints or names), each used 5..8 times, in random order."""
    use_ints = draw(st.booleans())
    pool = st.integers(0, 10_000) if use_ints else _NAME
    classes = draw(st.lists(pool, min_size=2, max_size=3, unique=True))
    labels = [c for c in classes for _ in range(draw(st.integers(5, 8)))]
    return draw(st.permutations(labels))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=_label_columns(), n_features=st.integers(1, 4), suffix=st.sampled_from([".csv", ".parquet"]),
       seed=st.integers(0, 1000))
def test_property_valid_manifest_round_trips(labels: list, n_features: int, suffix: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(len(labels), n_features)).astype(np.float32)
    table = pd.DataFrame(features, columns=[f"f{j}" for j in range(n_features)])
    table.insert(0, "label", labels)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m{suffix}"
        table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
        data = load_dataset(DataConfig(dataset=str(path)), seed)
    rows = [int(s.split()[1]) for s in data.source_train]
    assert [data.class_names[c] for c in data.given_train] == [str(labels[r]) for r in rows]
    assert np.allclose(data.x_train, features[rows], rtol=1e-6)
    assert set(data.class_names) == {str(v) for v in labels}


_ANY_VALUE = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                       st.text(max_size=3), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=st.lists(_ANY_VALUE, min_size=1, max_size=12),
       feature=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()), min_size=12,
                        max_size=12),
       suffix=st.sampled_from([".csv", ".parquet"]))
def test_property_arbitrary_manifest_never_crashes(labels: list, feature: list, suffix: str) -> None:
    table = pd.DataFrame({"label": pd.Series(labels, dtype=object), "x": feature[:len(labels)]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m{suffix}"
        try:
            table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
        except Exception:  # pyarrow cannot store some mixed object columns; nothing to load then
            return
        try:
            data = load_dataset(DataConfig(dataset=str(path)), 0)
        except DataError:
            return
    assert np.isfinite(data.x_train).all()
    assert data.given_train.min() >= 0 and data.given_train.max() < data.n_classes
