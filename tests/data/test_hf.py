"""Hugging Face datasets as input: folders `save_to_disk` wrote and `hf:` specs (load_dataset monkeypatched: no
network in tests), columns chosen by feature type, splits, sources, truth and noise, fingerprints, every error."""

from __future__ import annotations

import subprocess
import sys

import datasets
import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Sequence, Value
from PIL import Image as PILImage

from core.config import DataConfig, FlagConfig
from core.data.base import IMAGE, TABULAR, TEXT
from core.data.hf import HubSpec, is_saved_dataset, parse_spec
from core.data.hf_columns import choose_columns, describe
from core.data.load import load_dataset
from core.errors import ConfigError, DataError, GradsiftError

SHAPES = ("stripe", "circle", "square")
"""Deliberately not sorted: a ClassLabel's own order must be kept."""


def _pictures(n_per_class: int = 8, size: int = 12, seed: int = 0) -> tuple[list, list[int]]:
    """Small grayscale PIL images whose pattern depends on the class (learnable), and their class indices."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    patterns = [xx % 4 < 2, (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2,
                (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)]
    images, labels = [], []
    for i in range(n_per_class * len(SHAPES)):
        label = i % len(SHAPES)
        pixels = patterns[label] * 200 + rng.integers(0, 50, (size, size))
        images.append(PILImage.fromarray(pixels.astype(np.uint8), mode="L"))
        labels.append(label)
    return images, labels


def _image_dataset(n_per_class: int = 8, seed: int = 0, **extra) -> Dataset:
    images, labels = _pictures(n_per_class, seed=seed)
    columns = {"image": images, "label": labels, **{k: v for k, (v, _) in extra.items()}}
    features = Features({"image": Image(), "label": ClassLabel(names=list(SHAPES)),
                         **{k: f for k, (_, f) in extra.items()}})
    return Dataset.from_dict(columns, features=features)


def _save(dataset, path) -> str:
    dataset.save_to_disk(str(path))
    return str(path)


def _load(dataset: str, **fields):
    return load_dataset(DataConfig(dataset=dataset, **fields), 0)


def test_parse_spec():
    assert parse_spec("hf:imdb") == HubSpec("imdb")
    assert parse_spec("hf:nyu-mll/glue:sst2@validation") == HubSpec("nyu-mll/glue", "sst2", "validation")
    assert parse_spec("hf:cifar10@test") == HubSpec("cifar10", None, "test")
    for bad in ("hf:", "hf::x", "hf:glue:", "hf:glue@", "imdb"):
        with pytest.raises(ConfigError, match="hf:NAME"):
            parse_spec(bad)


def test_a_saved_dataset_is_told_apart_from_an_image_folder(tmp_path):
    single = _save(_image_dataset(2), tmp_path / "single")
    both = _save(DatasetDict(train=_image_dataset(2), test=_image_dataset(1)), tmp_path / "dict")
    folder = tmp_path / "folder" / "cat"
    folder.mkdir(parents=True)
    _pictures(1)[0][0].save(folder / "a.png")
    assert is_saved_dataset(single) and is_saved_dataset(both)
    assert not is_saved_dataset(tmp_path / "folder") and not is_saved_dataset(tmp_path / "nowhere")


def test_a_saved_image_dataset_keeps_its_class_names_in_order_and_carves_a_split(tmp_path):
    data = _load(_save(_image_dataset(10), tmp_path / "shapes"))
    images, labels = _pictures(10)
    assert data.kind == IMAGE and data.class_names == list(SHAPES)
    assert data.x_train.shape == (24, 1, 12, 12) and data.x_test.shape == (6, 1, 12, 12)
    assert data.test_split_carved and data.true_train is None and not data.test_labels_verified
    assert sorted(np.bincount(data.y_test).tolist()) == [2, 2, 2]  # stratified
    rows = [int(source.rsplit(" ", 1)[1]) for source in data.source_train]
    assert all(source.startswith(f"{tmp_path / 'shapes'}@train row ") for source in data.source_train)
    for k in (0, 7, 23):
        assert data.given_train[k] == labels[rows[k]]
        assert np.array_equal(data.x_train[k, 0], np.asarray(images[rows[k]]))


def test_a_dataset_dict_uses_its_test_split_and_not_validation(tmp_path):
    saved = DatasetDict(train=_image_dataset(6), validation=_image_dataset(2, seed=1), test=_image_dataset(3, seed=2))
    data = _load(_save(saved, tmp_path / "dict"))
    assert not data.test_split_carved
    assert len(data.x_train) == 18 and len(data.x_test) == 9
    assert data.y_test.tolist() == _pictures(3, seed=2)[1]
    assert np.array_equal(data.x_test[4, 0], np.asarray(_pictures(3, seed=2)[0][4]))
    assert data.source_train[5] == f"{tmp_path / 'dict'}@train row 5"


def test_at_split_picks_another_split_of_a_saved_dataset_dict(tmp_path):
    saved = DatasetDict(train=_image_dataset(6), validation=_image_dataset(4, seed=1), test=_image_dataset(3, seed=2))
    folder = _save(saved, tmp_path / "dict")
    data = _load(f"{folder}@validation")
    assert len(data.x_train) == 12 and len(data.x_test) == 9 and not data.test_split_carved
    assert data.source_train[0] == f"{folder}@validation row 0"
    carved = _load(f"{folder}@test", test_fraction=0.34)
    assert carved.test_split_carved and len(carved.x_train) + len(carved.x_test) == 9
    with pytest.raises(ConfigError, match="no split 'dev'; splits: train, validation, test"):
        _load(f"{folder}@dev")


def test_a_test_split_without_labels_is_set_aside(tmp_path):
    unlabeled = _image_dataset(2, seed=1).map(lambda row: {"label": -1})
    data = _load(_save(DatasetDict(train=_image_dataset(5), test=unlabeled), tmp_path / "dict"))
    assert data.test_split_carved and len(data.x_train) + len(data.x_test) == 15
    assert any("set aside split 'test'" in note for note in data.notes)


def _hub(monkeypatch, returned) -> list:
    calls = []

    def fake_load_dataset(name, config=None):
        calls.append((name, config))
        return returned

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    return calls


def test_an_hf_spec_loads_through_load_dataset(monkeypatch):
    calls = _hub(monkeypatch, DatasetDict(train=_image_dataset(6), test=_image_dataset(2, seed=1)))
    data = _load("hf:someone/shapes:small")
    assert calls == [("someone/shapes", "small")]
    assert data.name == "shapes-small" and len(data.x_train) == 18 and len(data.x_test) == 6
    assert data.source_train[3] == "hf:someone/shapes:small@train row 3"
    picked = _load("hf:shapes@test", test_fraction=0.5)
    assert calls[-1] == ("shapes", None) and picked.source_train[0].startswith("hf:shapes@test row ")


def test_a_failed_download_says_so_in_one_line_and_suggests_save_to_disk(monkeypatch):
    def offline(name, config=None):
        raise ConnectionError("Couldn't reach 'imdb' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as info:
        _load("hf:imdb")
    message = str(info.value)
    assert "\n" not in message and "could not download" in message and "'imdb'" in message
    assert "save_to_disk" in message and "ConnectionError" in message


REQUESTS = {"refund": ["I want my money back", "please refund the order", "refund me now", "money back please"],
            "delivery": ["where is my parcel", "the package has not arrived", "track my delivery", "parcel late"]}


def test_a_text_column_makes_a_text_dataset(tmp_path):
    texts = [t for pair in zip(*REQUESTS.values()) for t in pair] * 2
    labels = [0, 1] * 8
    saved = Dataset.from_dict({"sentence": texts, "label": labels, "idx": list(range(16))},
                              features=Features({"sentence": Value("string"), "label": ClassLabel(names=["refund",
                                                 "delivery"]), "idx": Value("int32")}))
    data = _load(_save(saved, tmp_path / "requests"), test_fraction=0.25)
    assert data.kind == TEXT and data.class_names == ["refund", "delivery"]
    assert data.x_train.shape == (12, 384) and len(data.texts_test) == 4
    for text, label, source in zip(data.texts_train, data.given_train, data.source_train):
        row = int(source.rsplit(" ", 1)[1])
        assert text == texts[row] and label == labels[row]


def test_numeric_columns_are_the_features_and_string_labels_the_classes(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=20), rng.normal(size=20)
    saved = Dataset.from_dict({"a": a, "b": b, "id": list(range(20)), "label": ["yes", "no"] * 10},
                              features=Features({"a": Value("float64"), "b": Value("float32"), "id": Value("int64"),
                                                 "label": Value("string")}))
    data = _load(_save(saved, tmp_path / "table"))
    assert data.kind == TABULAR and data.class_names == ["no", "yes"] and data.x_train.shape == (16, 2)
    row = int(data.source_train[2].rsplit(" ", 1)[1])
    assert np.allclose(data.x_train[2], [a[row], np.float32(b[row])])
    assert data.class_names[data.given_train[2]] == ["yes", "no"][row % 2]


def test_a_true_label_column_is_the_truth_and_noise_keeps_the_originals(tmp_path):
    labels = _pictures(6)[1]
    truth = _image_dataset(6, true_label=(labels, ClassLabel(names=list(SHAPES))))
    data = _load(_save(truth, tmp_path / "truth"))
    assert data.true_train is not None and data.test_labels_verified
    noisy = _load(_save(_image_dataset(10), tmp_path / "plain"), noise_rate=0.25)
    assert noisy.true_train is not None and (noisy.true_train != noisy.given_train).sum() == round(0.25 * 24)


def test_the_fingerprint_follows_the_saved_data(tmp_path):
    first = _load(_save(_image_dataset(5), tmp_path / "a")).fingerprint()
    assert _load(_save(_image_dataset(5), tmp_path / "b")).fingerprint() == first
    relabelled = _image_dataset(5).map(lambda row, i: {"label": (row["label"] + 1) % 3} if i == 0 else {},
                                       with_indices=True)
    assert _load(_save(relabelled, tmp_path / "c")).fingerprint() != first
    assert _load(_save(_image_dataset(5, seed=9), tmp_path / "d")).fingerprint() != first


@pytest.mark.parametrize("extra, fields, match", [
    ({"coarse": ([0, 1] * 12, ClassLabel(names=["x", "y"]))}, {},
     "several columns could be the labels: label \\(ClassLabel\\(3 names\\)\\), coarse .*--label-column"),
    ({"mask": (_pictures(8, seed=3)[0], Image())}, {}, "several image columns .*: image, mask; .*--input-column"),
    ({"coarse": ([0, 1] * 12, ClassLabel(names=["x", "y"]))}, {"label_column": "nope"}, "no column 'nope'"),
    ({}, {"input_column": "label"}, "cannot be the inputs"),
])
def test_ambiguous_or_wrong_columns_are_refused_in_one_line(tmp_path, extra, fields, match):
    folder = _save(_image_dataset(8, **extra), tmp_path / "data")
    with pytest.raises(ConfigError, match=match) as info:
        _load(folder, **fields)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_naming_the_columns_resolves_the_ambiguity(tmp_path):
    extra = {"coarse": ([0, 1] * 12, ClassLabel(names=["x", "y"])), "mask": (_pictures(8, seed=3)[0], Image())}
    data = _load(_save(_image_dataset(8, **extra), tmp_path / "data"), label_column="coarse", input_column="mask")
    row = int(data.source_train[0].rsplit(" ", 1)[1])
    assert data.class_names == ["x", "y"] and data.given_train[0] == row % 2
    assert np.array_equal(data.x_train[0, 0], np.asarray(_pictures(8, seed=3)[0][row]))


def test_nothing_fits_lists_the_columns_with_their_types(tmp_path):
    saved = Dataset.from_dict({"caption": ["a", "b"] * 5, "score": [0.5] * 10},
                              features=Features({"caption": Value("string"), "score": Value("float32")}))
    with pytest.raises(ConfigError, match=r"no column fits as the labels .*columns: caption \(Value\(string\)\), "
                                          r"score \(Value\(float32\)\); name one with --label-column"):
        _load(_save(saved, tmp_path / "data"))


def test_missing_labels_and_broken_images_name_the_column_and_rows(tmp_path):
    saved = Dataset.from_dict({"x": [1.0, 2.0, 3.0, 4.0] * 3, "label": ["a", None, "b", "a"] * 3})
    with pytest.raises(DataError, match=r"@train: label column 'label' has 3 missing values, in rows 1, 5, 9"):
        _load(_save(saved, tmp_path / "missing"))
    broken = _image_dataset(4).cast_column("image", Image(decode=False))
    broken = broken.map(lambda row, i: {"image": {"bytes": b"not an image", "path": None}} if i == 2 else {},
                        with_indices=True)
    with pytest.raises(DataError, match=r"image column 'image' row 2: not a readable image"):
        _load(_save(broken, tmp_path / "broken"))


def test_hf_errors_are_gradsift_errors_for_a_single_dataset_split(tmp_path):
    with pytest.raises(GradsiftError, match="single split"):
        _load(f"{_save(_image_dataset(2), tmp_path / 'one')}@validation")


def test_describe_and_choose_from_features_alone():
    features = {"img": Image(), "tags": Sequence(Value("int64")), "label": ClassLabel(names=["a", "b"])}
    assert [describe(f) for f in features.values()] == ["Image", "List(Value(int64))", "ClassLabel(2 names)"]
    chosen = choose_columns(features, "x")
    assert (chosen.label, chosen.inputs, chosen.ignored) == ("label", ("img",), ("tags",))
    vectors = choose_columns({"emb": Sequence(Value("float32")), "target": Value("int64")}, "x")
    assert (vectors.label, vectors.inputs, vectors.input_kind.name) == ("target", ("emb",), "numeric vector")


def test_the_config_refuses_one_column_for_both_and_empty_names():
    for fields in ({"label_column": "a", "input_column": "a"}, {"label_column": ""}, {"input_column": ""}):
        with pytest.raises(ConfigError, match="two different columns"):
            DataConfig(dataset="x", **fields)
    assert DataConfig(dataset="x", label_column="a", input_column="b").label_column == "a"


def test_loading_the_data_modules_does_not_import_datasets():
    code = "import sys, core.data.load, core.data.registry; print('datasets' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_analyze_a_saved_image_dataset_end_to_end(tmp_path):
    from core.export.manifest import writes_images
    from core.export.source import files_base
    from core.pipeline.runner import analyze
    from core.run import schema
    from tests.conftest import fast_config

    folder = _save(DatasetDict(train=_image_dataset(12), test=_image_dataset(3, seed=1)), tmp_path / "shapes")
    run = analyze(fast_config(folder, flag=FlagConfig(budget=0.1)), tmp_path / "run")
    samples, manifest = run.read_samples(), run.read_manifest()
    assert len(samples) == 36 and manifest["dataset"]["kind"] == "image"
    assert manifest["dataset"]["class_names"] == list(SHAPES)
    assert samples[schema.SOURCE].str.fullmatch(rf"{folder}@train row \d+").all()
    assert samples[schema.IS_FLAGGED].sum() == round(0.1 * 36) and samples[schema.TRUE_LABEL].isna().all()
    assert files_base(folder, samples[schema.SOURCE]) is None  # the images live in the arrow files, not beside
    assert writes_images("image", folder, samples[schema.SOURCE])  # so a manifest export writes them out


def test_the_default_run_folder_of_an_hf_dataset_is_a_plain_name():
    from core.cli.analyze import default_out

    assert default_out("hf:imdb").name == "hf-imdb"
    assert default_out("hf:nyu-mll/glue:sst2@validation").name == "hf-nyu-mll-glue-sst2-validation"


def test_a_test_split_or_truth_with_other_classes_is_refused(tmp_path):
    other = _image_dataset(2).cast_column("label", ClassLabel(names=["a", "b", "c"]))
    with pytest.raises(ConfigError, match=r"@test: column 'label' is ClassLabel\(3 names\) with other classes"):
        _load(_save(DatasetDict(train=_image_dataset(4), test=other), tmp_path / "other"))
    lacking = _image_dataset(2).remove_columns("image")
    with pytest.raises(ConfigError, match=r"@test: lacks the column\(s\) image"):
        _load(_save(DatasetDict(train=_image_dataset(4), test=lacking), tmp_path / "lacking"))
    names = _image_dataset(4, true_label=([SHAPES[i] for i in _pictures(4)[1]], Value("string")))
    with pytest.raises(ConfigError, match="column 'true_label' \\(Value\\(string\\)\\) must hold the same classes"):
        _load(_save(names, tmp_path / "truth"))


def test_column_options_are_refused_for_other_sources(tmp_path):
    with pytest.raises(ConfigError, match="data.label_column applies to Hugging Face datasets"):
        _load("digits", label_column="label")
    with pytest.raises(ConfigError, match="data.label_column and data.input_column apply to"):
        _load("digits", label_column="label", input_column="image")


def test_images_the_hub_keeps_as_cached_files_are_read_from_there(monkeypatch, tmp_path):
    images, labels = _pictures(4)
    files = []
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i}.png")
        files.append(str(tmp_path / f"{i}.png"))
    cached = Dataset.from_dict({"image": files, "label": labels},
                               features=Features({"image": Image(), "label": ClassLabel(names=list(SHAPES))}))
    assert cached.with_format("arrow")["image"].to_pylist()[0]["bytes"] is None  # only the path is stored
    _hub(monkeypatch, cached)
    data = _load("hf:shapes")
    row = int(data.source_train[0].rsplit(" ", 1)[1])
    assert np.array_equal(data.x_train[0, 0], np.asarray(images[row]))
    (tmp_path / "3.png").unlink()
    with pytest.raises(DataError, match=r"image column 'image' row 3 points to .*3.png, which does not exist"):
        _load("hf:shapes")
