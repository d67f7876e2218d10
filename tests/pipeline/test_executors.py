"""A run on a Dask cluster gives the run directory a single-process run gives (core.pipeline.executors)."""

import distributed  # noqa: F401  (a hard dependency: a broken install fails here, never skips)
import numpy as np
import pandas as pd
import pytest

from core.config import BaselineConfig, DetectConfig, GradientConfig, TrainConfig
from core.errors import ConfigError, RunDirError
from core.pipeline import dask_cluster
from core.pipeline import shards as shard_plan
from core.pipeline.runner import analyze
from core.run import schema
from tests.conftest import fast_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes, shared by every test here (starting one costs seconds)."""
    with dask_cluster.open_client(workers=2) as dask_client:
        yield dask_client


def _assert_same_run(local, clustered):
    local_samples, cluster_samples = local.read_samples(), clustered.read_samples()
    assert np.array_equal(local_samples[schema.IS_FLAGGED], cluster_samples[schema.IS_FLAGGED])
    score_columns = [c for c in local_samples.columns if c.startswith("score_")]
    pd.testing.assert_frame_equal(local_samples, cluster_samples, check_exact=False, rtol=1e-5, atol=1e-7)
    assert score_columns
    np.testing.assert_allclose(clustered.read_npy(schema.GRADIENTS), local.read_npy(schema.GRADIENTS),
                               rtol=1e-5, atol=1e-7)


def test_two_workers_reproduce_the_single_process_run(client, tmp_path):
    config = fast_config(baselines=BaselineConfig(enabled=False))
    local = analyze(config, tmp_path / "local", retrain_after=False)
    clustered = analyze(config, tmp_path / "clustered", client=client, retrain_after=False)
    _assert_same_run(local, clustered)
    stages = clustered.read_manifest()["stages"]
    # In-sample last-layer gradients come from the stored features in this process; detectors score on workers.
    assert stages["gradients"]["executor"] == "this process, head on stored features"
    assert stages["scores"]["executor"] == "dask: 2 workers, 2 threads"
    assert clustered.read_manifest()["config_fingerprint"] == local.read_manifest()["config_fingerprint"]


def test_cross_fit_all_layers_and_subsampled_fits_match(client, tmp_path):
    # Every parameter (torch.func + sparse projection), two fold models, detectors fitted on a
    # seeded 300-row subsample of each fold (cap lowered so digits exceeds it), LOF scored on
    # the client and iForest on the workers.
    config = fast_config(train=TrainConfig(epochs=2, patience=1, min_steps=0),
                         gradients=GradientConfig(mode="cross_fit", folds=2, layers="all", projection_dim=256),
                         detect=DetectConfig(detectors=("iforest", "lof", "l2"), max_fit_samples=300),
                         baselines=BaselineConfig(enabled=False))
    local = analyze(config, tmp_path / "local", retrain_after=False)
    clustered = analyze(config, tmp_path / "clustered", client=client, retrain_after=False)
    _assert_same_run(local, clustered)
    manifest = local.read_manifest()
    assert manifest["gradients"]["projection"] == "SparseJLProjector"
    assert manifest["scores"]["fit_rows"] == [300, 300]
    assert clustered.read_manifest()["stages"]["gradients"]["executor"] == "dask: 2 workers, 2 threads"
    assert set(local.read_samples()[schema.FOLD]) == {0, 1}


def test_cli_runs_on_an_existing_scheduler(client, tmp_path):
    from typer.testing import CliRunner

    from core.cli.main import app

    out = tmp_path / "blobs"
    result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(out), "--epochs", "3",
                                      "--embed", "pca", "--no-baselines", "--no-retrain",
                                      "--scheduler", client.scheduler.address])
    assert result.exit_code == 0, result.output
    assert "precision" in result.output


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "not both"),
    (["--workers", "0"], "--workers must be >= 1"),
])
def test_cli_refuses_bad_execution_options(tmp_path, args, message):
    from typer.testing import CliRunner

    from core.cli.main import app

    result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "run").exists()


def test_workers_must_see_the_run_directory(client, tmp_path):
    with pytest.raises(RunDirError, match="every worker mounts"):
        dask_cluster.check_shared_path(client, tmp_path / "not-there")


def test_no_cluster_means_no_client():
    with dask_cluster.open_client(None, None) as nothing:
        assert nothing is None
    with pytest.raises(ConfigError, match="not both"):
        with dask_cluster.open_client("tcp://127.0.0.1:1", 2):
            pass


def test_shard_plan_is_aligned_and_covers_every_row_once():
    groups = [np.arange(0, 5000, 2), np.arange(1, 5000, 2)]
    unit = shard_plan.alignment_unit(chunk_size=256)
    assert unit == 1024
    per_shard = shard_plan.shard_rows(len(groups[0]), unit, n_threads=2)
    assert per_shard % unit == 0
    shards = shard_plan.plan_shards(groups, per_shard)
    assert all(shard.start % unit == 0 for shard in shards)
    covered = np.concatenate([shard.rows for shard in shards])
    assert np.array_equal(np.sort(covered), np.arange(5000))
    for shard in shards:
        assert np.array_equal(shard.rows, groups[shard.group][shard.start:shard.start + len(shard.rows)])
    assert shard_plan.shard_rows(10_000_000, unit, n_threads=2) == shard_plan.MAX_SHARD_UNITS * unit


def test_detectors_fit_on_every_row_up_to_the_cap_and_a_seeded_sample_above():
    rows = np.arange(10, 1010)
    assert np.array_equal(shard_plan.detector_fit_rows(rows, seed=0, group=0, cap=1000), rows)
    sample = shard_plan.detector_fit_rows(rows, seed=0, group=0, cap=100)
    assert len(sample) == 100 and np.all(np.diff(sample) > 0) and np.isin(sample, rows).all()
    assert np.array_equal(sample, shard_plan.detector_fit_rows(rows, seed=0, group=0, cap=100))
    assert not np.array_equal(sample, shard_plan.detector_fit_rows(rows, seed=0, group=1, cap=100))
