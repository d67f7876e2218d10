"""A text manifest end to end through `analyze` and `gradsift analyze` / `gradsift info`: texts in the samples
table, test texts stored, the encoder recorded, detection that finds the flipped labels, resume."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.evaluate.metrics import detection_metrics
from core.pipeline.runner import analyze
from core.run import schema
from tests.conftest import text_config


def test_texts_flow_into_the_run_directory(text_run, text_manifest):
    table = pd.read_csv(text_manifest)
    samples = text_run.read_samples()
    assert samples[schema.TEXT].tolist() == table[table.split == "train"].text.tolist()
    assert samples[schema.SOURCE].tolist() == [f"row {i}" for i in table.index[table.split == "train"]]
    test_texts = text_run.read_parquet(schema.TEST_TEXTS)[schema.TEXT].tolist()
    assert test_texts == table[table.split == "test"].text.tolist()
    manifest = text_run.read_manifest()
    assert manifest["schema_version"] == schema.SCHEMA_VERSION == 7
    assert manifest["dataset"]["kind"] == "text" and manifest["model"]["name"] == "text_probe"
    encoder = manifest["dataset"]["encoder"]
    assert encoder["name"] == "all-MiniLM-L6-v2" and len(encoder["sha256"]) == 64 and encoder["n_truncated"] == 1
    assert text_run.read_npy(schema.FEATURES).shape == (len(samples), 384)


def test_the_gradients_find_the_flipped_labels(text_run):
    samples = text_run.read_samples()
    truth = samples[schema.IS_NOISY].to_numpy(dtype=bool)
    metrics = detection_metrics(samples[schema.score_column("l2")].to_numpy(), truth, 0.05)
    assert truth.sum() >= 6
    assert metrics["auroc"] > 0.8 and metrics["precision"] >= 0.5  # chance: 10 / 77


def test_a_rerun_resumes_and_a_changed_text_is_refused(text_run, text_manifest, tmp_path):
    from core.errors import RunDirError

    again = analyze(text_config(text_manifest), text_run.path)
    assert again.read_samples()[schema.TEXT].equals(text_run.read_samples()[schema.TEXT])
    changed = tmp_path / "changed.csv"
    table = pd.read_csv(text_manifest)
    table.loc[1, "text"] = table.loc[1, "text"] + " (edited)"
    table.to_csv(changed, index=False)
    out = tmp_path / "run"
    analyze(text_config(changed), out)
    table.loc[1, "text"] = table.loc[1, "text"] + " again"
    table.to_csv(changed, index=False)
    with pytest.raises(RunDirError, match="changed since"):
        analyze(text_config(changed), out)


def test_the_cli_reports_the_encoder_and_refuses_a_missing_one(text_run, text_manifest, tmp_path):
    runner = CliRunner()
    info = runner.invoke(app, ["info", str(text_run.path)])
    assert info.exit_code == 0, info.output
    assert "text encoder all-MiniLM-L6-v2" in info.output and "1 of" in info.output
    assert "truncated at 256 tokens" in info.output
    missing = runner.invoke(app, ["analyze", "--dataset", str(text_manifest), "--encoder", str(tmp_path / "nope"),
                                  "--out", str(tmp_path / "run")])
    assert missing.exit_code == 2 and "no such folder" in missing.output and "Traceback" not in missing.output
    assert not (tmp_path / "run").exists()
    report = runner.invoke(app, ["info", str(text_run.path), "--json"])
    assert '"n_truncated": 1' in report.output and '"name": "all-MiniLM-L6-v2"' in report.output
    helped = runner.invoke(app, ["analyze", "--help"])
    assert "--encoder" in helped.output and "--text-max-length" in helped.output


def test_exports_carry_the_texts_and_the_manifest_reads_back(text_run, tmp_path):
    import json

    from core.config import DataConfig
    from core.data.load import load_dataset
    from core.export.source import export_run

    samples = text_run.read_samples()
    export_run(text_run.path, "manifest", tmp_path / "cleaned.csv")
    cleaned = pd.read_csv(tmp_path / "cleaned.csv", dtype={"text": str}, keep_default_na=False)
    assert cleaned["text"].tolist() == samples[schema.TEXT].iloc[cleaned.sample_id].tolist()
    reread = load_dataset(DataConfig(dataset=str(tmp_path / "cleaned.csv")), 0)
    assert reread.kind == "text" and sorted(reread.texts_train + reread.texts_test) == sorted(cleaned["text"])
    written = export_run(text_run.path, "label-studio", tmp_path / "tasks.json")
    tasks = json.loads(next(p for p in written.paths if p.suffix == ".json").read_text())
    assert tasks and all(task["data"]["text"] == samples[schema.TEXT].iloc[task["data"]["sample_id"]]
                         for task in tasks)
