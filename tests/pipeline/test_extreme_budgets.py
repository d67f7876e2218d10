"""Budgets at the edges: none, one sample, all but one, a class emptied. One line and exit 2 before any work,
or a completed run whose retrain record says why; never a traceback."""

import json

import numpy as np
from typer.testing import CliRunner

from core.cli.main import app
from core.run.rundir import RunDir

FAST = ["--epochs", "2", "--min-steps", "0", "--embed", "pca", "--no-baselines", "--retrain-seeds", "2"]


def analyze(out, *args):
    return CliRunner().invoke(app, ["analyze", "--out", str(out), *FAST, *args])


def test_budget_zero_is_one_line_before_any_work(tmp_path):
    result = analyze(tmp_path / "run", "--dataset", "blobs", "--budget", "0")
    assert result.exit_code == 2 and "flag.budget must be in (0, 1)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_all_but_one_sample_is_refused_before_any_work(tmp_path):
    # blobs: 150 training samples, 2 classes; 0.99 * 150 = 148.5 rounds up to 149 flags, keeping 1 sample.
    result = analyze(tmp_path / "run", "--dataset", "blobs", "--budget", "0.99")
    assert result.exit_code == 2, result.output
    assert "flags 149 of 150 samples and keeps 1, fewer than the 2 class(es)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_a_budget_of_one_sample_completes(tmp_path):
    # 0.005 * 150 = 0.75 rounds to 1.
    result = analyze(tmp_path / "run", "--dataset", "blobs", "--budget", "0.005")
    assert result.exit_code == 0, result.output
    report = json.loads(CliRunner().invoke(app, ["info", str(tmp_path / "run"), "--json"]).output)
    assert report["flagging"] == {"detector": "l2", "budget": 0.005, "auto": False, "count": 1}


def tiny_class_outputs(path):
    """Outputs of 200 training samples: classes 0 and 1 fitted well, and class 2's only 3 samples given
    probabilities that put 0.98 on class 0, so their gradients (‖p − e_y‖, features of equal norm) rank first."""
    rng = np.random.default_rng(0)
    labels = np.array([0] * 99 + [1] * 98 + [2] * 3)
    features = rng.normal(size=(200, 4))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    probs = np.full((200, 3), 0.05)
    probs[np.arange(200), labels] = 0.9
    probs[197:] = [0.98, 0.01, 0.01]
    test_labels = np.array([0, 1, 2] * 10)
    np.savez(path, features=features.astype(np.float32), probs=probs, y=labels,
             features_test=rng.normal(size=(30, 4)).astype(np.float32), probs_test=np.full((30, 3), 1 / 3),
             y_test=test_labels)
    return path


def test_a_budget_that_empties_a_class_completes_and_says_why(tmp_path):
    data = tiny_class_outputs(tmp_path / "outputs.npz")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["analyze", "--dataset", str(data), "--out", str(out), "--no-baselines",
                                      "--embed", "pca", "--budget", "0.015"])  # 0.015 * 200 = 3 flags
    assert result.exit_code == 0, result.output
    assert "not retrained: removing these 3 samples leaves class(es) 2 without a training sample" in result.output
    record = RunDir(out).read_manifest()["stages"]["retrain"]
    assert record["complete"] and "class(es) 2" in record["not_retrained"]
    info = CliRunner().invoke(app, ["info", str(out)])
    assert info.exit_code == 0 and "not retrained" in info.output
    again = CliRunner().invoke(app, ["retrain", str(out), "--mode", "probe"])
    assert again.exit_code == 2 and "class(es) 2 without a training sample" in again.output
    assert "Traceback" not in again.output
