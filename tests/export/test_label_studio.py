"""Label Studio tasks and labeling config: the documented task/prediction shape, images, text, local files."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.errors import ConfigError
from core.export import label_studio
from core.export.source import load_source
from core.run import schema


def _export(run, tmp_path, **kwargs):
    out = tmp_path / "tasks.json"
    label_studio.export(load_source(run.path, kwargs.pop("split", "train")), out, kwargs.pop("only", "flagged"),
                        **kwargs)
    config = ET.fromstring((tmp_path / "tasks.label_config.xml").read_text())
    return json.loads(out.read_text()), config


def _choices(config) -> list[str]:
    return [choice.get("value") for choice in config.iter("Choice")]


def test_image_tasks_follow_the_task_format(digits_run, tmp_path):
    tasks, config = _export(digits_run, tmp_path)
    samples = digits_run.read_samples()
    names = digits_run.read_manifest()["dataset"]["class_names"]
    primary = schema.score_column(digits_run.flagging().detector)
    assert len(tasks) == int(samples[schema.IS_FLAGGED].sum())
    assert _choices(config) == names
    control = config.find("Choices")
    assert control.get("name") == "label" and control.get("toName") == "image"
    assert config.find("Image").get("value") == "$image"
    assert config.find("Image").get("smoothing") == "false", "embedded thumbnails are shown sharp"
    scores = []
    for task in tasks:
        data, (prediction,) = task["data"], task["predictions"]
        row = samples.iloc[data["sample_id"]]
        assert bool(row[schema.IS_FLAGGED])
        assert data["given_label"] == names[row[schema.GIVEN_LABEL]]
        assert prediction["model_version"] == "gradsift"
        assert prediction["score"] == pytest.approx(row[primary])
        (result,) = prediction["result"]
        assert (result["from_name"], result["to_name"], result["type"]) == ("label", "image", "choices")
        assert result["value"]["choices"] == [names[row[schema.SUGGESTED_LABEL]]]  # the suggest stage's label
        assert result["value"]["choices"][0] in _choices(config)
        scores.append(prediction["score"])
    assert scores == sorted(scores, reverse=True), "most outlying first"


def test_data_uri_decodes_to_the_thumbnail(digits_run, tmp_path):
    tasks, _ = _export(digits_run, tmp_path)
    thumbnails = digits_run.read_npy(schema.THUMBNAILS)
    for task in tasks[:5]:
        prefix, encoded = task["data"]["image"].split(",", 1)
        assert prefix == "data:image/png;base64"
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        assert image.format == "PNG"
        np.testing.assert_array_equal(np.asarray(image), thumbnails[task["data"]["sample_id"]][:, :, 0])


def test_large_thumbnails_are_shrunk_to_64_px():
    from core.export.images import data_uri

    image = np.random.default_rng(0).integers(0, 255, (200, 100, 3), dtype=np.uint8)
    decoded = Image.open(io.BytesIO(base64.b64decode(data_uri(image).split(",", 1)[1])))
    assert max(decoded.size) == 64 and decoded.mode == "RGB"


@pytest.mark.parametrize("as_names", [False, True])
def test_suggested_label_column_wins_over_the_prediction(digits_copy, tmp_path, as_names):
    samples = digits_copy.read_samples()
    suggestion = pd.array((samples[schema.GIVEN_LABEL] + 1) % 10, dtype="Int64")
    suggestion[0] = pd.NA  # no suggestion for sample 0: the prediction stands in
    names = [None if pd.isna(v) else str(v) for v in suggestion]  # class names, as a stage might store them
    samples[schema.SUGGESTED_LABEL] = pd.Series(names, dtype=object) if as_names else suggestion
    samples[schema.SUGGESTED_LABEL_CONFIDENCE] = 0.75
    samples.to_parquet(digits_copy.file(schema.SAMPLES))
    tasks, _ = _export(digits_copy, tmp_path, only="all")
    assert len(tasks) == len(samples)
    for task in tasks:
        sample_id = task["data"]["sample_id"]
        label = samples[schema.PRED_LABEL if sample_id == 0 else schema.GIVEN_LABEL].iloc[sample_id]
        expected = str(label if sample_id == 0 else (label + 1) % 10)
        assert task["predictions"][0]["result"][0]["value"]["choices"] == [expected]
        assert task["data"]["suggestion_confidence"] == 0.75


def test_tabular_tasks_carry_the_features_as_text(blobs_run, tmp_path):
    tasks, config = _export(blobs_run, tmp_path, only="all")
    assert config.find("Text").get("value") == "$text" and config.find("Image") is None
    assert config.find("Choices").get("toName") == "text"
    assert len(tasks) == 150
    first = tasks[0]
    assert "image" not in first["data"] and first["data"]["text"].startswith("x0: ")
    assert first["predictions"][0]["result"][0]["to_name"] == "text"


def test_test_split_tasks(digits_run, tmp_path):
    tasks, _ = _export(digits_run, tmp_path, split="test", only="all")
    labels = digits_run.test_labels()
    assert len(tasks) == len(labels)
    assert {t["data"]["split"] for t in tasks} == {"test"}
    first = tasks[0]
    assert first["data"]["given_label"] == str(labels[first["data"]["sample_id"]])


def test_local_files_urls_point_under_the_image_root(folder_run, image_folder, tmp_path):
    tasks, config = _export(folder_run, tmp_path, only="all", image_root=image_folder.parent)
    assert config.find("Image").get("smoothing") is None
    samples = folder_run.read_samples()
    for task in tasks:
        url = task["data"]["image"]
        assert url.startswith("/data/local-files/?d=") and " " not in url
        relative = unquote(url.split("?d=", 1)[1])
        assert (image_folder.parent / relative).is_file()
        assert relative == f"{image_folder.name}/{samples[schema.SOURCE].iloc[task['data']['sample_id']]}"


def test_image_root_errors(folder_run, digits_run, tmp_path):
    with pytest.raises(ConfigError, match="is not under it"):
        _export(folder_run, tmp_path, image_root=tmp_path)
    with pytest.raises(ConfigError, match="needs a run on an image folder"):
        _export(digits_run, tmp_path / "b", image_root=tmp_path)


def test_class_names_are_escaped_in_the_config():
    config = ET.fromstring(label_studio.label_config(['a "quoted" <b>', "x & y"], image=True))
    assert _choices(config) == ['a "quoted" <b>', "x & y"]


def test_out_must_be_json(digits_run, tmp_path):
    with pytest.raises(ConfigError, match=r"\.json"):
        label_studio.export(load_source(digits_run.path), tmp_path / "tasks.txt", "flagged")
