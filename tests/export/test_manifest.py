"""The manifest export: the reviewed training set, read back by the manifest loader and by `gradsift analyze`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig
from core.data.load import load_dataset
from core.errors import ConfigError
from core.export import manifest
from core.export.source import load_source
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL, ReviewStore
from tests.export.conftest import QUICK, copy_run


def test_in_memory_images_are_written_beside_the_manifest(digits_copy, tmp_path):
    store = ReviewStore(digits_copy.path)
    store.record([3, 4], MISLABELED, "ann")
    store.record([5], RELABEL, "ann", new_label=9)
    store.record([6], KEEP, "ann")
    out = tmp_path / "cleaned.csv"
    written = manifest.export(load_source(digits_copy.path), out, "all")
    samples = digits_copy.read_samples()
    assert written.paths == [out, tmp_path / "cleaned_images"]
    table = pd.read_csv(out)
    assert list(table.columns) == ["sample_id", "label", "path", "true_label"]
    assert len(table) == len(samples) - 2 and not {3, 4} & set(table["sample_id"])
    assert table.set_index("sample_id").loc[5, "label"] == 9
    assert (table["true_label"].to_numpy() == samples[schema.TRUE_LABEL].to_numpy()[table["sample_id"]]).all()
    dataset = load_dataset(DataConfig(dataset=str(out), test_fraction=0.2), seed=0)
    assert len(dataset.x_train) + len(dataset.x_test) == len(table)
    assert dataset.class_names == [str(d) for d in range(10)] and dataset.true_train is not None
    thumbnails = digits_copy.read_npy(schema.THUMBNAILS)
    from PIL import Image

    first = table.iloc[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / first["path"])),
                                  thumbnails[first["sample_id"]][:, :, 0])


def test_file_datasets_keep_absolute_paths(folder_run, tmp_path):
    out = tmp_path / "cleaned.parquet"
    manifest.export(load_source(folder_run.path), out, "all")
    table = pd.read_parquet(out)
    assert list(table.columns) == ["sample_id", "label", "path"]
    assert all(Path(p).is_file() for p in table["path"])
    assert not (tmp_path / "cleaned_images").exists()
    dataset = load_dataset(DataConfig(dataset=str(out)), seed=0)
    assert dataset.class_names == sorted(folder_run.read_manifest()["dataset"]["class_names"])


def test_tabular_features_round_trip_through_analyze(blobs_run, tmp_path):
    from core.pipeline.runner import analyze
    from tests.conftest import fast_config

    run = copy_run(blobs_run, tmp_path)
    ReviewStore(run.path).record([0, 1], MISLABELED, "ann")
    out = tmp_path / "blobs-clean.csv"
    manifest.export(load_source(run.path), out, "all")
    table = pd.read_csv(out)
    assert list(table.columns) == ["sample_id", "label", "true_label", "x0", "x1"]
    original = load_dataset(DataConfig(dataset="blobs"), run.config().seed)
    np.testing.assert_array_equal(table[["x0", "x1"]].to_numpy(dtype=np.float32),
                                  original.x_train[table["sample_id"].to_numpy()])
    again = analyze(fast_config(str(out), **QUICK), tmp_path / "again", retrain_after=False)
    facts = again.read_manifest()["dataset"]
    assert facts["kind"] == "tabular" and facts["n_train"] + facts["n_test"] == 148
    assert facts["n_noisy"] is not None, "true_label came back as the truth"
    assert len(again.read_samples()) == facts["n_train"]


def test_manifest_options_that_make_no_sense_are_refused(digits_run, tmp_path):
    source = load_source(digits_run.path)
    with pytest.raises(ConfigError, match="drop --only flagged"):
        manifest.export(source, tmp_path / "m.csv", "flagged")
    with pytest.raises(ConfigError, match=r"\.csv or \.parquet"):
        manifest.export(source, tmp_path / "m.json", "all")
    with pytest.raises(ConfigError, match="--split test"):
        manifest.export(load_source(digits_run.path, "test"), tmp_path / "m.csv", "all")
    assert not list(tmp_path.iterdir())
