"""Exports of multi-label and regression runs (hand-built fixtures: tests/kind_runs.py): Label Studio multiple
choices and Number, cleanlab tables, re-analysable manifests, FiftyOne datasets; loud refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError, RunDirError
from core.export import cleanlab, fiftyone, label_studio, manifest
from core.export.source import load_source
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL, ReviewStore
from tests.kind_runs import SCALE


def _samples(run) -> pd.DataFrame:
    return pd.read_parquet(run.file(schema.SAMPLES))


def test_label_studio_tags_are_multiple_choices(tag_run, tmp_path):
    out = tmp_path / "tasks.json"
    written = label_studio.export(load_source(tag_run.path), out, "flagged")
    config = (tmp_path / "tasks.label_config.xml").read_text()
    names = json.loads(tag_run.file(schema.MANIFEST).read_text())["dataset"]["class_names"]
    assert 'choice="multiple"' in config and config.count("<Choice ") == len(names)
    tasks = json.loads(out.read_text())
    samples = _samples(tag_run)
    assert written.count == len(tasks) == int(samples[schema.IS_FLAGGED].sum())
    for task in tasks:
        row = samples.iloc[task["data"]["sample_id"]]
        assert task["data"]["given_tags"] == [names[int(t)] for t in row[schema.GIVEN_TAGS]]
        (result,) = task["predictions"][0]["result"]
        assert result["type"] == "choices" and result["from_name"] == "label"
        assert result["value"]["choices"] == [names[int(t)] for t in row[schema.SUGGESTED_TAGS]]


def test_label_studio_values_are_a_number_control(value_run, tmp_path):
    out = tmp_path / "tasks.json"
    label_studio.export(load_source(value_run.path), out, "all")
    config = (tmp_path / "tasks.label_config.xml").read_text()
    # Given values are multiples of 0.25 (class × 1.5, + 0.25 on odd samples): the finest decimal is 0.01.
    assert '<Number name="value" toName="image" step="0.01"' in config and "<Choices" not in config
    tasks = {t["data"]["sample_id"]: t for t in json.loads(out.read_text())}
    samples = _samples(value_run)
    for sample_id in (0, 1, 7):
        row = samples.iloc[sample_id]
        (result,) = tasks[sample_id]["predictions"][0]["result"]
        assert result == {"id": f"s{sample_id}", "from_name": "value", "to_name": "image", "type": "number",
                          "value": {"number": float(row[schema.PRED_VALUE])}}
        assert tasks[sample_id]["data"]["given_value"] == float(row[schema.GIVEN_VALUE])
        assert tasks[sample_id]["data"]["suggested_low"] == float(row[schema.PRED_VALUE]) - 0.5


def test_value_step():
    assert label_studio.value_step(np.array([1.0, 2.0])) == "1"
    assert label_studio.value_step(np.array([1.5, 2.25])) == "0.01"
    assert label_studio.value_step(np.array([np.pi])) == "0.000001"


def test_cleanlab_tag_lists_and_values(tag_run, value_run, tmp_path):
    tags = cleanlab.table(load_source(tag_run.path), "all")
    samples = _samples(tag_run)
    assert tags["given_label"].tolist() == [list(map(int, t)) for t in samples[schema.GIVEN_TAGS]]
    assert tags["given_class"].iloc[0] == "|".join(str(int(t)) for t in samples[schema.GIVEN_TAGS].iloc[0])
    cleanlab.export(load_source(tag_run.path), tmp_path / "tags.parquet", "all")
    back = pd.read_parquet(tmp_path / "tags.parquet")
    assert [list(v) for v in back["predicted_label"]] == [list(map(int, t)) for t in samples[schema.SUGGESTED_TAGS]]
    values = cleanlab.table(load_source(value_run.path), "flagged")
    rows = _samples(value_run)
    rows = rows[rows[schema.IS_FLAGGED]]
    assert values["given_label"].tolist() == rows[schema.GIVEN_VALUE].tolist()
    assert values["predicted_label"].tolist() == rows[schema.PRED_VALUE].tolist()
    assert np.allclose(values["residual"], values["predicted_label"] - values["given_label"])


def test_manifest_of_tags_applies_the_reviews(tag_run, tmp_path):
    store = ReviewStore(tag_run.path)
    store.record([1], RELABEL, "ann", new_label=[2, 5])
    store.record([2], MISLABELED, "ann")
    store.record([3], KEEP, "ann")
    out = tmp_path / "clean.csv"
    manifest.export(load_source(tag_run.path), out, "all")
    frame = pd.read_csv(out, dtype={"labels": str, "true_labels": str}, keep_default_na=False)
    samples = _samples(tag_run)
    assert len(frame) == len(samples) - 1 and 2 not in frame["sample_id"].tolist()
    by_id = frame.set_index("sample_id")
    assert by_id.loc[1, "labels"] == "2|5"
    assert by_id.loc[0, "labels"] == "|".join(str(int(t)) for t in samples[schema.GIVEN_TAGS].iloc[0])
    assert by_id.loc[3, "true_labels"] == str(int(samples[schema.TRUE_TAGS].iloc[3][0]))
    assert "label" not in frame.columns and "path" in frame.columns  # digits images written beside it


def test_manifest_of_values_writes_the_target(value_run, tmp_path):
    store = ReviewStore(value_run.path)
    store.record([4], RELABEL, "ann", new_label=12.5)
    out = tmp_path / "clean.parquet"
    manifest.export(load_source(value_run.path), out, "all")
    frame = pd.read_parquet(out).set_index("sample_id")
    samples = _samples(value_run)
    assert frame.loc[4, "target"] == 12.5
    assert frame.loc[5, "target"] == samples[schema.GIVEN_VALUE].iloc[5]
    assert frame.loc[5, "true_target"] == samples[schema.TRUE_VALUE].iloc[5]
    assert frame["target"].dtype == np.float64 and "label" not in frame.columns


def test_fiftyone_tags_are_classifications(tag_run, tmp_path):
    ReviewStore(tag_run.path).record([0], MISLABELED, "ann")
    out = tmp_path / "fo"
    fiftyone.export(load_source(tag_run.path), out, "all")
    labels = json.loads((out / "labels.json").read_text())
    samples = _samples(tag_run)
    assert labels["classes"] == [str(i) for i in range(10)]
    assert labels["labels"]["000004"] == [{"label": str(int(t))} for t in samples[schema.GIVEN_TAGS].iloc[4]]
    assert (out / "data" / "000004.png").is_file() and len(list((out / "data").iterdir())) == len(samples)
    sidecar = pd.read_csv(out / fiftyone.SIDECAR, keep_default_na=False, dtype=str).set_index("sample_id")
    assert sidecar.loc["0", "reviewed_tags"] == "" and sidecar.loc["0", "review"] == MISLABELED


def test_fiftyone_values_have_no_labels_json(value_run, tmp_path):
    ReviewStore(value_run.path).record([3], RELABEL, "ann", new_label=2.0)
    out = tmp_path / "fo"
    fiftyone.export(load_source(value_run.path), out, "all")
    assert not (out / "labels.json").exists()
    sidecar = pd.read_csv(out / fiftyone.SIDECAR).set_index("sample_id")
    samples = _samples(value_run)
    assert sidecar.loc[3, "reviewed_value"] == 2.0
    assert sidecar.loc[6, "reviewed_value"] == samples[schema.GIVEN_VALUE].iloc[6]
    assert sidecar.loc[6, "true_value"] == pytest.approx(float(samples[schema.TRUE_VALUE].iloc[6]))
    assert sidecar.loc[6, "given_value"] % SCALE == 0.0  # an even sample: class × 1.5 exactly


def test_missing_columns_and_the_test_split_are_refused(tag_run, tmp_path):
    samples = _samples(tag_run).drop(columns=[schema.SUGGESTED_TAGS])
    samples.to_parquet(tag_run.file(schema.SAMPLES))
    with pytest.raises(RunDirError, match="suggested_tags"):
        load_source(tag_run.path)
    with pytest.raises(ConfigError, match="classification runs only"):
        load_source(tag_run.path, "test")


def test_label_studio_answers_import_as_tag_sets_and_values(tag_run, value_run, tmp_path):
    from core.export.import_reviews import import_reviews

    tags = tmp_path / "tags.json"
    samples = _samples(tag_run)
    given = [int(t) for t in samples[schema.GIVEN_TAGS].iloc[5]]
    tags.write_text(json.dumps([
        {"id": 1, "data": {"sample_id": 4}, "annotations": [{"id": 10, "result": [
            {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["3", "7"]}}]}]},
        {"id": 2, "data": {"sample_id": 5}, "annotations": [{"id": 11, "result": [
            {"from_name": "label", "type": "choices", "value": {"choices": [str(t) for t in given]}}]}]},
    ]))
    result = import_reviews(tag_run.path, tags, "ann")
    assert result.counts == {"keep": 1, "relabel": 1, "mislabeled": 0}
    assert ReviewStore(tag_run.path).edits().relabelled == {4: (3, 7)}
    values = tmp_path / "values.json"
    values.write_text(json.dumps([{"id": 1, "data": {"sample_id": 2}, "annotations": [{"id": 12, "result": [
        {"from_name": "value", "to_name": "image", "type": "number", "value": {"number": 9.75}}]}]}]))
    import_reviews(value_run.path, values, "ann")
    assert ReviewStore(value_run.path).edits().relabelled == {2: 9.75}
    csv = tmp_path / "fixes.csv"
    csv.write_text("sample_id,label\n3,not a number\n")
    with pytest.raises(DataError, match="not a number"):
        import_reviews(value_run.path, csv, "bob")


def test_review_log_of_tags_names_them(tag_run, tmp_path):
    from core.export import review_log

    ReviewStore(tag_run.path).record([0], RELABEL, "ann", new_label=[1, 4])
    out = tmp_path / "log.csv"
    review_log.export(load_source(tag_run.path), out, "all")
    log = pd.read_csv(out, dtype=str)
    assert log["new_label"].tolist() == ["[1, 4]"] and log["new_label_name"].tolist() == ["1|4"]


def test_a_label_studio_file_of_another_run_is_refused(tag_run, tmp_path):
    from core.export.import_reviews import import_reviews

    out = tmp_path / "tasks.json"
    label_studio.export(load_source(tag_run.path), out, "flagged")
    tasks = json.loads(out.read_text())
    tasks[0]["annotations"] = [{"id": 1, "result": [{"from_name": "label", "type": "choices",
                                                     "value": {"choices": ["1"]}}]}]
    out.write_text(json.dumps(tasks))
    assert sum(import_reviews(tag_run.path, out, "ann").counts.values()) == 1  # this run's own file reads back
    assert import_reviews(tag_run.path, out, "ann").already == 1  # and only once
    tasks[0]["data"]["given_tags"] = ["9", "8"]
    out.write_text(json.dumps(tasks))
    with pytest.raises(DataError, match="exported from another run"):
        import_reviews(tag_run.path, out, "bob")
