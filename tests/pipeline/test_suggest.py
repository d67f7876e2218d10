"""The suggest stage: out-of-fold probabilities, the suggested budget and its interval, a label per sample,
`--budget auto`; nothing of it reads a true label."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.data.load import load_dataset
from core.estimate.registry import NOISE_ESTIMATORS
from core.pipeline.context import Reporter, StageContext
from core.pipeline.executors import executor_for
from core.pipeline.stages import suggest
from core.run import schema
from core.run.results import read_results
from core.run.rundir import RunDir


def test_the_stage_writes_its_contract(digits_run):
    manifest = digits_run.read_manifest()
    samples = digits_run.read_samples()
    oof = digits_run.read_npy(schema.OOF_PROBS)
    n, classes = len(samples), len(manifest["dataset"]["class_names"])
    assert oof.shape == (n, classes) and oof.dtype == np.float32
    assert np.allclose(oof.sum(axis=1), 1, atol=1e-4)
    probs = digits_run.read_npz(schema.FACTORS)["probs"]  # default suggester: counterfactual, the in-sample model
    assert (samples[schema.SUGGESTED_LABEL].to_numpy() == probs.argmax(axis=1)).all()
    assert np.allclose(samples[schema.SUGGESTED_LABEL_CONFIDENCE], probs.max(axis=1))
    assert 0 < suggested_interval_width(digits_run.read_manifest())
    assert (samples[schema.RUNNER_UP_LABEL] != samples[schema.SUGGESTED_LABEL]).all()
    assert (samples[schema.RUNNER_UP_CONFIDENCE] <= samples[schema.SUGGESTED_LABEL_CONFIDENCE]).all()
    suggested = manifest["suggested_budget"]
    assert suggested["method"] == digits_run.config().suggest.noise_estimator
    assert 0 <= suggested["low"] <= suggested["value"] <= suggested["high"] <= 1
    assert set(manifest["noise_estimates"]) == {name for name in NOISE_ESTIMATORS.names()
                                                if "classification" in NOISE_ESTIMATORS.entry(name).meta["tasks"]}
    assert samples[schema.NOISE_PROBABILITY].sum() == pytest.approx(suggested["value"] * n, rel=1e-6)
    assert not manifest["flagging"]["auto"] and digits_run.config().flag.budget == 0.05
    assert n == 1437 and samples[schema.IS_FLAGGED].sum() == 72  # 0.05 * 1437 = 71.85 rounds to 72


def suggested_interval_width(manifest: dict) -> float:
    """The reported interval is the bootstrap's widened by suggest.model_error on each side (within [0, 1])."""
    suggested = manifest["suggested_budget"]
    error = suggested["model_error"]
    assert suggested["low"] == pytest.approx(max(suggested["bootstrap_low"] - error, 0.0))
    assert suggested["high"] == pytest.approx(min(suggested["bootstrap_high"] + error, 1.0))
    return suggested["high"] - suggested["low"]


class LabelsOnly:
    """A dataset that refuses to hand out true or test labels: what the suggest stage may not read."""

    def __init__(self, dataset):
        self._dataset = dataset

    def __getattr__(self, name):
        if name in ("true_train", "y_test"):
            raise AssertionError(f"the suggest stage read dataset.{name}")
        return getattr(self._dataset, name)


def test_the_stage_reads_no_truth_and_repeats_itself(digits_run, tmp_path):
    run = RunDir(shutil.copytree(digits_run.path, tmp_path / "copy"))
    manifest = run.read_manifest()
    before = run.read_parquet(schema.SUGGESTIONS)
    config = run.config()
    ctx = StageContext(run, config, manifest, LabelsOnly(load_dataset(config.data, config.seed)), Reporter(),
                       executor_for(None))
    suggest.run(ctx)
    assert run.read_parquet(schema.SUGGESTIONS).equals(before)
    assert manifest["suggested_budget"] == digits_run.read_manifest()["suggested_budget"]


def test_budget_auto_flags_the_suggested_budget(tmp_path):
    out = tmp_path / "blobs"
    fast = ["--epochs", "3", "--min-steps", "0", "--embed", "pca", "--no-baselines", "--retrain-seeds", "2"]
    result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(out), "--budget", "auto", *fast])
    assert result.exit_code == 0, result.output
    run = RunDir(out)
    manifest = run.read_manifest()
    suggested, flagging = manifest["suggested_budget"], manifest["flagging"]
    budget = flagging["budget"]
    assert flagging["auto"] and budget == suggested["budget"] == pytest.approx(suggested["value"])
    # The stored config stays what was hashed: the resolved budget lives beside it.
    assert run.config().flag.budget is None
    assert manifest["config_fingerprint"] == run.config().fingerprint()
    n = manifest["dataset"]["n_train"]
    assert run.read_samples()[schema.IS_FLAGGED].sum() == flagging["count"] == int(budget * n + 0.5)
    assert set(read_results(run)["budget"]) == {0.0, budget}  # the retrain stage used it too
    report = json.loads(CliRunner().invoke(app, ["info", str(out), "--json"]).output)
    assert {"value", "low", "high", "method"} <= set(report["suggested_budget"]) and report["budget"] == budget
    info = CliRunner().invoke(app, ["info", str(out)]).output
    assert "suggested budget" in info and "applied (--budget auto)" in info
    again = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(out), "--budget", "auto", *fast])
    assert again.exit_code == 0 and "cached" in again.output  # the same config resumes, nothing recomputed


def test_clamped_budget_flags_one_sample_at_least():
    assert suggest.clamp_budget(0.0, 200) == 1 / 200 and suggest.clamp_budget(1.0, 200) == 199 / 200
    assert suggest.clamp_budget(0.1, 200) == 0.1
