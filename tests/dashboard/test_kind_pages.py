"""Budget & retrain and the test-sample explorer on real multi-label and regression runs (analyzed from the small
task datasets: tests/task_datasets.py): the pages name the task's metric (micro-F1; RMSE, lower is better),
*Retrain* records rows with it, reviews apply as tag sets and values, and the test samples show true against
predicted tags or values."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.pipeline.retrain import bootstrap_rows
from core.run import reviews, schema
from core.run.results import read_results
from core.run.rundir import RunDir
from dashboard import formatting
from tests.conftest import fast_config
from tests.dashboard.conftest import open_page, problems
from tests.dashboard.test_actions import wait_for_jobs
from tests.kind_runs import multilabel_run
from tests.task_datasets import N_TEST, register

METRICS = {"tags": ("micro_f1", "micro-F1"), "values": ("rmse", "RMSE")}


@pytest.fixture(scope="session")
def task_runs_dir(tmp_path_factory):
    """A multi-label ("tags") and a regression ("values") run, analyzed without retraining."""
    from core.pipeline.runner import analyze

    register()
    root = tmp_path_factory.mktemp("task_runs")
    analyze(fast_config("test_multilabel"), root / "tags", retrain_after=False)
    analyze(fast_config("test_regression"), root / "values", retrain_after=False)
    return root


@pytest.fixture
def task_runs(task_runs_dir, tmp_path, monkeypatch):
    """A private copy of the task runs (the tests retrain and review)."""
    register()  # full-mode retraining and a new session load the sources by name
    root = tmp_path / "runs"
    shutil.copytree(task_runs_dir, root)
    monkeypatch.setenv("GRADSIFT_RUNS_DIR", str(root))
    return root


def _retrain(app, button: str):
    app.radio(key="retrain_mode").set_value("probe")
    next(b for b in app.button if b.label == button).click().run()
    assert not problems(app)
    (job,) = wait_for_jobs(app, "retrain_jobs")
    assert job.status == "done", job.error
    app.run()
    assert not problems(app)
    return job


@pytest.mark.parametrize("run_name", ["tags", "values"])
def test_retrain_names_the_tasks_metric_and_records_it(task_runs, run_name):
    metric, name = METRICS[run_name]
    run = RunDir(task_runs / run_name)
    app = open_page(run.path, "budget_retrain")
    assert not problems(app)
    assert [info.value for info in app.info] == ["No retraining yet: press *Retrain* (probe mode takes seconds)."]
    app.slider(key="retrain_budget").set_value(7.5)
    _retrain(app, "Retrain")
    results = read_results(run)
    assert set(results["metric"]) == {metric}
    chosen = results[results["budget"] == 0.075]
    assert sorted(chosen["seed"]) == [0, 1, 2, 3, 4]
    assert np.allclose(chosen["delta"], chosen["test_accuracy"] - chosen["baseline_accuracy"])
    spec = next(chart.proto.spec for chart in app.get("plotly_chart") if chart.key == "retrain_curve")
    assert f"test {name} vs k" in spec and f"test {name} (mean over seeds)" in spec and "test accuracy" not in spec
    assert ("lower is better" in spec) == (metric == "rmse")
    mean = float(chosen["delta"].mean())
    sense = "better" if (mean < 0 if metric == "rmse" else mean > 0) else "worse"
    captions = [caption.value for caption in app.caption if "vs k = 0" in caption.value]
    assert len(captions) == 1 and f"test {name} change {mean:+.4f} vs k = 0 ({sense})" in captions[0]
    assert f"test {name}" in app.dataframe[0].proto.columns and "test_accuracy" in app.dataframe[0].value


@pytest.mark.parametrize("run_name", ["tags", "values"])
def test_retrain_with_reviews_applies_tag_sets_and_values(task_runs, run_name):
    run = RunDir(task_runs / run_name)
    relabelled = list(range(10, 110))
    store = reviews.ReviewStore(run.path)
    store.record([3, 4, 5], reviews.MISLABELED, "carol")
    store.record(relabelled, reviews.RELABEL, "carol", new_label=[] if run_name == "tags" else 1000.0)
    edits = store.edits()  # a relabel to the given label is no change
    assert len(edits.relabelled) > len(relabelled) / 2
    app = open_page(run.path, "budget_retrain")
    app.slider(key="retrain_budget").set_value(0.0)
    job = _retrain(app, "Retrain with my reviews applied")
    n = len(run.read_samples())
    for row in job.result["rows"]:
        assert row["reviews_key"] and row["metric"] == METRICS[run_name][0]
        assert row["n_relabelled"] == len(edits.relabelled)
        assert row["n_train"] == int((~np.isin(bootstrap_rows(n, row["seed"]), [3, 4, 5])).sum())
    # tag sets emptied, or targets set to 1000, move the metric of every seed
    assert all(row["delta"] != 0 for row in job.result["rows"])
    if run_name == "values":  # a hundred wild targets make the predictions worse: a higher RMSE
        assert np.mean([row["delta"] for row in job.result["rows"]]) > 0


def test_test_samples_of_a_multilabel_run_show_predicted_against_true_tags(task_runs):
    run = RunDir(task_runs / "tags")
    truth = run.read_npy(schema.TEST_LABELS).astype(bool)
    predicted = run.read_npz(schema.ERM_OUTPUTS)["test_probs"] >= 0.5
    wrong = int(np.flatnonzero((truth != predicted).any(axis=1))[0])
    app = open_page(run.path, "test_explorer")
    assert not problems(app)
    assert any("micro-F1" in caption.value for caption in app.caption)
    app.number_input(key="explorer_test_input").set_value(wrong).run()
    assert not problems(app)
    names = run.read_manifest()["dataset"]["class_names"]
    chips = formatting.tag_chips(np.flatnonzero(truth[wrong]), np.flatnonzero(predicted[wrong]), names)
    assert f"predicted: {chips}" in [md.value for md in app.markdown]
    assert ":green-background[+" in chips or ":red-background[~~" in chips
    table = app.dataframe[0].value
    assert len(table) == N_TEST
    assert int((~table["every tag right"]).sum()) == int((truth != predicted).any(axis=1).sum())
    assert not table["every tag right"].iloc[0]  # wrong tag sets first


def test_test_samples_of_a_regression_run_show_true_predicted_and_residual(task_runs):
    run = RunDir(task_runs / "values")
    truth = run.read_npy(schema.TEST_LABELS)
    predicted = run.read_npz(schema.ERM_OUTPUTS)["test_probs"].reshape(-1).astype(np.float64)
    app = open_page(run.path, "test_explorer")
    assert not problems(app)
    assert any("RMSE" in caption.value and "lower is better" in caption.value for caption in app.caption)
    app.number_input(key="explorer_test_input").set_value(7).run()
    assert not problems(app)
    shown = next(md.value for md in app.markdown if md.value.startswith(":green[true"))
    assert f"{truth[7]:.6g}" in shown and f"{predicted[7]:.6g}" in shown and f"{predicted[7] - truth[7]:+.4g}" in shown
    table = app.dataframe[0].value
    assert len(table) == N_TEST
    worst = int(np.argmax(np.abs(predicted - truth)))
    assert int(table["test_id"].iloc[0]) == worst  # largest errors first
    assert np.isclose(table["residual (predicted − true)"].iloc[0], predicted[worst] - truth[worst])


def test_a_run_without_test_predictions_in_its_form_says_so_in_one_line(digits_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADSIFT_RUNS_DIR", str(tmp_path))
    run = multilabel_run(digits_run, tmp_path / "tags")  # hand-built: its test labels are still classes
    app = open_page(run.path, "test_explorer")
    assert not problems(app)
    assert len(app.info) == 1 and "no test predictions" in app.info[0].value
