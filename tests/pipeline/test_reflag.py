"""A new budget or primary detector on a finished run re-flags and retrains only (issue: flagging is a decision)."""

import hashlib
import json

from typer.testing import CliRunner

from core.cli.main import app
from core.run import schema
from core.run.results import read_results
from core.run.reviews import MISLABELED, ReviewStore
from core.run.rundir import RunDir

FAST = ["--dataset", "blobs", "--epochs", "3", "--min-steps", "0", "--embed", "pca", "--no-baselines",
        "--retrain-seeds", "2"]
KEPT = (schema.MODEL, schema.GRADIENTS, schema.FACTORS, schema.SCORES, schema.EMBEDDING, schema.OOF_PROBS)


def digest(run: RunDir) -> dict[str, str]:
    return {name: hashlib.sha256(run.file(name).read_bytes()).hexdigest() for name in KEPT}


def test_a_new_budget_and_primary_reflag_without_touching_the_analysis(tmp_path):
    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["analyze", "--out", str(out), *FAST]).exit_code == 0
    run = RunDir(out)
    before = digest(run)
    first = run.flagging()
    assert first.auto and first.budget == run.read_manifest()["suggested_budget"]["budget"]  # the default: auto
    ReviewStore(out).record([0], MISLABELED, "ann")

    result = CliRunner().invoke(app, ["analyze", "--out", str(out), *FAST, "--budget", "0.1", "--primary", "l1"])
    assert result.exit_code == 0, result.output
    assert "re-running the samples, retrain stage(s)" in result.output
    for stage in ("train", "gradients", "scores", "suggest", "embedding"):
        assert f"{stage}: cached" in result.output
    assert digest(run) == before  # model, gradients, scores and map byte-identical
    assert len(ReviewStore(out).history()) == 1  # the reviews are kept

    report = json.loads(CliRunner().invoke(app, ["info", str(out), "--json"]).output)
    # blobs: 150 training samples, 0.1 * 150 = 15 flags
    assert report["budget"] == 0.1 and report["flagging"] == {"detector": "l1", "budget": 0.1, "auto": False,
                                                              "count": 15}
    assert report["history"][-1]["changed"] == ["flag.budget: None -> 0.1", "flag.primary: None -> 'l1'"]
    assert run.read_samples()[schema.IS_FLAGGED].sum() == 15
    results = read_results(run)
    assert {(row.detector, row.budget) for row in results.itertuples() if row.budget > 0} == {
        ("l2", first.budget), ("l1", 0.1)}

    retrained = CliRunner().invoke(app, ["retrain", str(out), "--mode", "probe", "--seeds", "3"])
    assert retrained.exit_code == 0, retrained.output  # defaults: the run's primary (l1) and budget (0.1)
    rows = read_results(run)
    assert set(rows[(rows.detector == "l1") & (rows.budget == 0.1)].seed) == {0, 1, 2}


def test_an_analysis_change_names_the_stages_and_keeps_the_run(tmp_path):
    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["analyze", "--out", str(out), *FAST]).exit_code == 0
    result = CliRunner().invoke(app, ["analyze", "--out", str(out), *FAST, "--epochs", "4"])
    assert result.exit_code == 2
    assert "train.epochs: 3 -> 4" in result.output and "train, gradients, scores" in result.output
    assert RunDir(out).config().train.epochs == 3
    again = CliRunner().invoke(app, ["analyze", "--out", str(out), *FAST, "--epochs", "4", "--overwrite"])
    assert again.exit_code == 0 and "data: cached" in again.output and "train: running" in again.output
