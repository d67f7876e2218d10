"""cleanlab table (orientation: higher label_score = label more likely correct) and the FiftyOne image tree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.errors import ConfigError
from core.export import cleanlab, fiftyone
from core.export.source import load_source
from core.run import schema
from core.run.reviews import MISLABELED, RELABEL, ReviewStore

CLEANLAB_COLUMNS = ["sample_id", "source", "is_label_issue", "label_score", "given_label", "predicted_label",
                    "given_class", "predicted_class"]


def test_cleanlab_table_columns_and_orientation(digits_run, tmp_path):
    out = tmp_path / "issues.csv"
    written = cleanlab.export(load_source(digits_run.path), out, "all")
    table = pd.read_csv(out, dtype={"given_class": str, "predicted_class": str})
    samples = digits_run.read_samples()
    primary = digits_run.flagging().detector
    assert written.count == len(samples) == len(table)
    assert list(table.columns[:8]) == CLEANLAB_COLUMNS and f"{primary}_score" in table.columns
    assert table["is_label_issue"].tolist() == samples[schema.IS_FLAGGED].tolist()
    scores = samples[schema.score_column(primary)].to_numpy()
    quality = table["label_score"].to_numpy()
    assert quality.min() == 0.0 and quality.max() == 1.0
    # ties are broken as the flags break them: the earlier sample counts as more outlying
    assert quality[np.argmax(scores)] == 0.0 and quality[np.flatnonzero(scores == scores.min())[-1]] == 1.0
    order = np.argsort(-scores, kind="stable")
    assert np.all(np.diff(quality[order]) >= 0), "label_score falls as the outlier score rises"
    flagged = table["is_label_issue"].to_numpy()
    assert quality[flagged].max() < quality[~flagged].min(), "the flagged are exactly the lowest label scores"
    assert table["given_label"].tolist() == samples[schema.GIVEN_LABEL].tolist()
    assert table["predicted_label"].tolist() == samples[schema.SUGGESTED_LABEL].tolist()  # the suggested label
    assert table["given_class"].tolist() == [str(v) for v in samples[schema.GIVEN_LABEL]]


def test_cleanlab_parquet_and_flagged_only(blobs_run, tmp_path):
    out = tmp_path / "issues.parquet"
    cleanlab.export(load_source(blobs_run.path), out, "flagged")
    table = pd.read_parquet(out)
    assert table["is_label_issue"].all() and len(table) == int(blobs_run.read_samples()[schema.IS_FLAGGED].sum())
    with pytest.raises(ConfigError, match=r"\.csv or \.parquet"):
        cleanlab.export(load_source(blobs_run.path), tmp_path / "issues.xlsx", "all")


def test_label_scores_edge_cases():
    assert cleanlab.label_scores(np.array([5.0])).tolist() == [1.0]
    assert cleanlab.label_scores(np.array([1.0, np.nan, 3.0])).tolist() == [0.5, 1.0, 0.0]


def test_fiftyone_tree_layout_and_counts(digits_copy, tmp_path):
    ReviewStore(digits_copy.path).record([0], MISLABELED, "ann")
    ReviewStore(digits_copy.path).record([1], RELABEL, "ann", new_label=7)
    out = tmp_path / "fo"
    written = fiftyone.export(load_source(digits_copy.path), out, "all")
    samples = digits_copy.read_samples()
    names = digits_copy.read_manifest()["dataset"]["class_names"]
    assert written.count == len(samples)
    top_files = [p.name for p in out.iterdir() if p.is_file()]
    assert top_files == [fiftyone.SIDECAR], "FiftyOne's importer skips top-level files; only the sidecar is there"
    for index, name in enumerate(names):
        files = sorted((out / name).iterdir())
        assert len(files) == int((samples[schema.GIVEN_LABEL] == index).sum())
        assert all(f.suffix == ".png" for f in files)
    sidecar = pd.read_csv(out / fiftyone.SIDECAR, dtype=str, keep_default_na=False)
    assert len(sidecar) == len(samples)
    assert {"filepath", "sample_id", "score", "is_flagged", "suggested_label", "true_label"} <= set(sidecar.columns)
    thumbnails = digits_copy.read_npy(schema.THUMBNAILS)
    for row in sidecar.head(5).itertuples():
        image = np.asarray(Image.open(out / row.filepath))
        np.testing.assert_array_equal(image, thumbnails[int(row.sample_id)][:, :, 0])
        assert row.filepath.split("/")[0] == row.given_label
    by_id = sidecar.set_index("sample_id")
    assert by_id.loc["0", "review"] == MISLABELED and by_id.loc["0", "reviewed_label"] == ""
    assert by_id.loc["1", "review"] == RELABEL and by_id.loc["1", "reviewed_label"] == "7"
    assert not list(tmp_path.glob(".*.tmp")), "no temporary directory left behind"


def test_fiftyone_refuses_tabular_runs_and_unusable_class_names(blobs_run, tmp_path):
    with pytest.raises(ConfigError, match="tabular run"):
        fiftyone.export(load_source(blobs_run.path), tmp_path / "fo", "all")
    for bad in ("a/b", ".hidden", "_unlabeled", ""):
        with pytest.raises(ConfigError, match="cannot be a directory"):
            fiftyone.check_class_names(["ok", bad])
    assert not (tmp_path / "fo").exists()
