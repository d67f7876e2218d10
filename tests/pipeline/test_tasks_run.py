"""`analyze` with every default on a small multi-label and a small regression dataset: every stage finishes, the
samples table holds the task's columns, the flags find the injected errors, retraining reports the task's metric."""

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.pipeline.retrain import EmptiedClassError, check_every_class_kept, retrain
from core.run import schema
from core.run.reviews import ReviewEdits
from tests.conftest import fast_config
from tests.task_datasets import N_TAGS, N_TRAIN, NOISY_SHARE, make_multilabel, make_regression, register

STAGES = ("data", "train", "gradients", "scores", "suggest", "baselines", "embedding", "samples", "evaluate",
          "retrain")


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory):
    from core.pipeline.runner import analyze

    register()
    return analyze(fast_config("test_multilabel"), tmp_path_factory.mktemp("runs") / "multilabel")


@pytest.fixture(scope="session")
def regression_run(tmp_path_factory):
    from core.pipeline.runner import analyze

    register()
    return analyze(fast_config("test_regression"), tmp_path_factory.mktemp("runs") / "regression")


@pytest.mark.parametrize("name", ["multilabel_run", "regression_run"])
def test_every_stage_finishes(request, name):
    manifest = request.getfixturevalue(name).read_manifest()
    assert set(STAGES) <= set(manifest["stages"])
    assert "not_retrained" not in manifest["stages"]["retrain"]


@pytest.mark.parametrize("name", ["multilabel_run", "regression_run"])
def test_flags_find_the_injected_errors_better_than_chance(request, name):
    samples = request.getfixturevalue(name).read_samples()
    noisy = samples[schema.IS_NOISY].to_numpy(bool)
    assert noisy.sum() == round(NOISY_SHARE * N_TRAIN)
    flagged = samples[schema.IS_FLAGGED].to_numpy(bool)
    assert flagged.sum() == round(0.05 * N_TRAIN)
    assert noisy[flagged].mean() > 2 * NOISY_SHARE


def test_the_multilabel_samples_table_holds_tag_lists(multilabel_run):
    samples = multilabel_run.read_samples()
    assert schema.GIVEN_LABEL not in samples and schema.SUGGESTED_LABEL not in samples
    for column in (*schema.COMMON_SAMPLE_COLUMNS, *schema.TAG_COLUMNS):
        assert column in samples
    given = [set(tags) for tags in samples[schema.GIVEN_TAGS]]
    true = [set(tags) for tags in samples[schema.TRUE_TAGS]]
    assert np.array_equal([g != t for g, t in zip(given, true)], samples[schema.IS_NOISY].to_numpy(bool))
    probs = np.stack(samples[schema.TAG_PROBS].to_list())
    assert probs.shape == (N_TRAIN, N_TAGS) and ((probs > 0) & (probs < 1)).all()
    assert [set(tags) for tags in samples[schema.PRED_TAGS]] == [set(np.flatnonzero(row >= 0.5)) for row in probs]
    confidence = np.stack(samples[schema.SUGGESTED_TAG_CONFIDENCE].to_list())
    assert ((confidence >= 0.5) & (confidence <= 1)).all()
    noise = samples[schema.NOISE_PROBABILITY].to_numpy()
    assert ((noise >= 0) & (noise <= 1)).all()


def test_multilabel_suggestions_restore_flagged_wrong_tag_sets_far_above_chance(multilabel_run):
    samples = multilabel_run.read_samples()
    wrong = samples[samples[schema.IS_FLAGGED] & samples[schema.IS_NOISY]]
    restored = [set(s) == set(t) for s, t in zip(wrong[schema.SUGGESTED_TAGS], wrong[schema.TRUE_TAGS])]
    # a random tag set is right 1 time in 2^4; the given set, never (these are the wrong ones). The fast config's
    # 4-epoch model restores about half; benchmarks/task_estimators.py measures the default recipe.
    assert len(restored) and np.mean(restored) > 4 / 2 ** N_TAGS


def test_the_multilabel_run_states_its_estimator_and_baselines(multilabel_run):
    manifest = multilabel_run.read_manifest()
    suggested = manifest["suggested_budget"]
    assert suggested["method"] == "l2_mixture"  # multi-label's default by measurement (docs/tasks.md)
    assert "counterfactual does not apply to multilabel" in suggested["note"]
    assert 0 <= suggested["value"] < 0.5
    assert set(manifest["noise_estimates"]) == {"tagset_counterfactual", "l2_mixture"}
    assert manifest["baselines"]["label_quality"] == ["cleanlab_multilabel"]
    assert set(manifest["baselines"]["skipped"]) == {"self_confidence", "normalized_margin",
                                                     "confidence_weighted_entropy", "cleanlab_regression"}
    assert manifest["baselines"]["influence"]  # the sigmoid head's Hessian: every influence baseline ran
    assert multilabel_run.read_npy(schema.OOF_PROBS).shape == (N_TRAIN, N_TAGS)


def test_the_regression_samples_table_holds_values(regression_run):
    samples = regression_run.read_samples()
    assert schema.GIVEN_LABEL not in samples
    for column in (*schema.COMMON_SAMPLE_COLUMNS, *schema.VALUE_COLUMNS):
        assert column in samples
    assert samples[schema.TRUE_VALUE].dtype == pd.Float64Dtype()
    residual = samples[schema.PRED_VALUE] - samples[schema.GIVEN_VALUE]
    assert np.allclose(samples[schema.RESIDUAL_VALUE], residual)
    low, value, high = (samples[c].to_numpy() for c in (schema.SUGGESTED_LOW, schema.SUGGESTED_VALUE,
                                                         schema.SUGGESTED_HIGH))
    assert (low <= value).all() and (value <= high).all()
    assert np.allclose(value, samples[schema.PRED_VALUE])  # the counterfactual suggester reads the in-sample model


def test_the_regression_run_states_its_estimator_and_baselines(regression_run):
    manifest = regression_run.read_manifest()
    suggested = manifest["suggested_budget"]
    assert suggested["method"] == "residual_mixture"
    assert "counterfactual does not apply to regression" in suggested["note"]
    assert manifest["baselines"]["label_quality"] == ["cleanlab_regression"]
    assert set(manifest["baselines"]["skipped"]) == {"self_confidence", "normalized_margin",
                                                     "confidence_weighted_entropy", "cleanlab_multilabel"}
    assert regression_run.read_npy(schema.OOF_PROBS).shape == (N_TRAIN, 1)


def test_the_residual_detector_scores_the_outputs_loss_gradient_and_leads_regression(regression_run, digits_run):
    samples = regression_run.read_samples()
    residual = samples[schema.score_column("residual")].to_numpy()
    stored = np.linalg.norm(regression_run.read_npz(schema.FACTORS)["residual"].astype(np.float64), axis=1)
    assert np.allclose(residual, stored)
    scale = regression_run.task().scale  # r = (ŷ − y) / scale for one output: the score is |ŷ − y| / scale
    assert np.allclose(residual, np.abs(samples[schema.RESIDUAL_VALUE].to_numpy()) / scale, rtol=1e-4)
    flagged = samples[schema.IS_FLAGGED].to_numpy(bool)
    assert regression_run.flagging().detector == "residual"
    assert residual[flagged].min() >= residual[~flagged].max()
    assert digits_run.flagging().detector == "l2"  # classification keeps the gradient's L2 norm


@pytest.mark.parametrize(("detectors", "primary", "expected"), [
    (("l2", "iforest", "l1", "residual"), None, "residual"),
    (("iforest", "l2"), None, "iforest"),
    (("l2", "residual"), "l2", "l2"),
])
def test_the_primary_is_the_named_one_else_the_tasks_own_else_the_first(detectors, primary, expected):
    from core.detect.flagging import primary_of

    assert primary_of(primary, detectors, "regression") == expected
    assert primary_of(None, ("residual", "l2"), "classification") == "l2"


def test_the_residual_detector_needs_the_stored_residual_not_a_matrix():
    from core.detect.estimators import outlier_scores

    with pytest.raises(ConfigError, match="residual.*not a gradient matrix"):
        outlier_scores("residual", np.ones((4, 3)))


@pytest.mark.parametrize(("name", "metric"), [("multilabel_run", "micro_f1"), ("regression_run", "rmse")])
def test_retraining_records_the_tasks_metric(request, name, metric):
    run = request.getfixturevalue(name)
    rows = run.read_parquet(schema.RETRAIN)
    assert len(rows) and (rows["metric"] == metric).all()
    assert np.isfinite(rows["test_accuracy"]).all() and (rows["test_accuracy"] >= 0).all()
    if metric == "micro_f1":
        assert (rows["test_accuracy"] <= 1).all()


@pytest.mark.parametrize("name", ["multilabel_run", "regression_run"])
def test_full_retraining_runs_for_the_task(request, name):
    run = request.getfixturevalue(name)
    row = retrain(run, "l2", 0.05, mode="full", seed=5)
    assert row["metric"] == run.task().metric and np.isfinite(row["test_accuracy"])


def test_relabels_are_tag_sets_for_multilabel_runs(multilabel_run):
    base = retrain(multilabel_run, "l2", 0.0, mode="probe", seed=0)
    edited = retrain(multilabel_run, "l2", 0.0, mode="probe", seed=0,
                     reviews=ReviewEdits(relabelled={i: [0, 1, 2, 3] for i in range(200)}))
    assert edited["n_relabelled"] == 200 and edited["test_accuracy"] != base["test_accuracy"]


def test_relabels_are_values_for_regression_runs(regression_run):
    base = retrain(regression_run, "l2", 0.0, mode="probe", seed=0)
    edited = retrain(regression_run, "l2", 0.0, mode="probe", seed=0,
                     reviews=ReviewEdits(relabelled={i: 1000.0 for i in range(100)}))
    assert edited["test_accuracy"] > base["test_accuracy"]  # RMSE: 100 targets set far off make it worse


def test_a_pruning_that_leaves_a_tag_without_a_sample_is_refused():
    labels = np.array([[1, 0], [0, 1], [1, 1], [1, 0]], np.uint8)
    keep = np.array([True, False, False, True])
    with pytest.raises(EmptiedClassError, match="leaves tag\\(s\\) b without"):
        check_every_class_kept(labels, keep, ["a", "b"], "multilabel")
    check_every_class_kept(labels, np.array([True, True, False, False]), ["a", "b"], "multilabel")
    check_every_class_kept(np.array([1.0, 2.0, 3.0]), np.array([True, False, False]), ["y"], "regression")
    assert issubclass(EmptiedClassError, ConfigError)


def test_a_retrain_summary_knows_lower_rmse_is_better():
    from core.pipeline.retrain import RetrainSummary

    rows = [{"detector": "l2", "budget": 0.05, "mode": "probe", "seed": s, "reviews_key": "", "test_accuracy": a,
             "delta": d, "metric": "rmse"} for s, a, d in ((0, 3.0, -0.5), (1, 3.2, -0.3))]
    summary = RetrainSummary.of(rows)
    assert summary.metric == "rmse" and not summary.higher_is_better and summary.improved
    assert summary.accuracy_ci[1] > 3.2  # no (0, 1) clipping of an RMSE's interval
    accuracy = RetrainSummary.of([{**row, "metric": "accuracy", "test_accuracy": 0.9} for row in rows])
    assert accuracy.higher_is_better and not accuracy.improved


@pytest.mark.parametrize("task_name", ["multilabel", "regression"])
def test_out_of_fold_heads_predict_in_the_tasks_form(task_name):
    from core.estimate.out_of_fold import head_out_of_fold_probs
    from core.tasks.base import make_task

    data = (make_multilabel if task_name == "multilabel" else make_regression)(noisy_share=0.0)
    task = make_task(task_name, data.given_train)
    oof = head_out_of_fold_probs(data.x_train, data.given_train, data.n_classes, 1e-3, 5, 0, 200, task=task)
    if task_name == "multilabel":
        assert oof.shape == (N_TRAIN, N_TAGS) and ((oof > 0) & (oof < 1)).all()
        assert ((oof >= 0.5) == data.given_train.astype(bool)).mean() > 0.9  # sigmoids, one per tag
    else:
        assert oof.shape == (N_TRAIN, 1)
        error = oof[:, 0] - data.given_train  # in the target's units (values around 100, noise 2)
        assert np.sqrt(np.mean(error ** 2)) < 4


@pytest.mark.parametrize("dataset", ["test_multilabel", "test_regression"])
def test_every_parameter_and_cross_fitted_gradients_for_the_new_losses(tmp_path, dataset):
    """`--layers all` (torch.func on the task's analysis loss) and cross-fitted gradients run for both kinds: the
    full gradient's norm is at least its head part's, which is the closed form of the in-sample run."""
    from core.config import BaselineConfig, GradientConfig
    from core.pipeline.runner import analyze

    register()
    off = BaselineConfig(enabled=False)
    head = analyze(fast_config(dataset, baselines=off), tmp_path / "head", retrain_after=False)
    every = analyze(fast_config(dataset, baselines=off, gradients=GradientConfig(mode="in_sample", layers="all")),
                    tmp_path / "all", retrain_after=False)
    head_l2 = head.read_npz(schema.FACTORS)["grad_l2"]
    every_l2 = every.read_npz(schema.FACTORS)["grad_l2"]
    assert every.read_npy(schema.GRADIENTS).shape[1] > head.read_npy(schema.GRADIENTS).shape[1]
    assert (every_l2 >= head_l2 * (1 - 1e-4)).all() and (every_l2 > head_l2 * 1.01).mean() > 0.5
    crossed = analyze(fast_config(dataset, baselines=off, gradients=GradientConfig(mode="cross_fit")),
                      tmp_path / "crossed", retrain_after=False)
    folds = crossed.read_npz(schema.FACTORS)["fold"]
    assert set(np.unique(folds)) == set(range(5)) and np.isfinite(crossed.read_npz(schema.FACTORS)["grad_l2"]).all()
