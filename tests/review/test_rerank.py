"""The review loop on a run directory: rerank.parquet beside the static ranking, made from the decisions
alone (no true label read), current until the decisions change; the CLI commands."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.errors import ConfigError, RunDirError
from core.review.config import ConflictConfig, RerankConfig
from core.review.conflicts import find_conflicts, read_conflicts
from core.review.rerank import is_current, read_rerank, rerank
from core.run import reviews, schema
from core.run.rundir import RunDir


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def review_top(run_path, count: int, offset: int = 0):
    """Decide the static ranking's samples offset..offset+count with the truth: relabel wrong ones, keep the rest."""
    samples = RunDir(run_path).read_samples()
    top = samples.sort_values([schema.score_column("l2"), schema.SAMPLE_ID], ascending=[False, True])
    store = reviews.ReviewStore(run_path)
    for row in top.iloc[offset:offset + count].itertuples():
        if row.is_noisy:
            store.record([row.sample_id], reviews.RELABEL, "sim", new_label=int(row.true_label))
        else:
            store.record([row.sample_id], reviews.KEEP, "sim")
    return store


def test_rerank_is_stored_beside_the_static_ranking(loop_run):
    store = review_top(loop_run, 30)
    before = digest(loop_run / schema.SAMPLES)
    stages = []
    result = rerank(loop_run, progress=lambda stage, fraction: stages.append(fraction))
    assert digest(loop_run / schema.SAMPLES) == before, "samples.parquet is never rewritten"
    frame = pd.read_parquet(loop_run / schema.RERANK)
    assert list(frame.columns) == list(schema.RERANK_COLUMNS)
    reviewed = set(store.decisions()[schema.SAMPLE_ID])
    assert set(frame[frame[schema.WAS_REVIEWED]][schema.SAMPLE_ID]) == reviewed
    assert (frame[frame[schema.WAS_REVIEWED]][schema.RERANK_RANK] == 0).all()
    open_ranks = np.sort(frame[~frame[schema.WAS_REVIEWED]][schema.RERANK_RANK].to_numpy())
    np.testing.assert_array_equal(open_ranks, np.arange(1, len(frame) - len(reviewed) + 1))
    scores = frame.set_index(schema.SAMPLE_ID)[schema.RERANK_SCORE]
    assert np.all(np.diff(scores.loc[result.queue].to_numpy()) <= 0), "the queue runs highest score first"
    facts = read_rerank(loop_run).facts
    assert facts["n_decisions"] == 30 and facts["decisions_key"] == reviews.decisions_key(store.decisions())
    assert facts["method"] == RerankConfig().method and facts["config"] == RerankConfig().to_dict()
    remaining = facts["remaining"]
    assert remaining["low"] <= remaining["estimate"] <= remaining["high"]
    assert remaining["n_unreviewed"] == len(frame) - 30
    assert stages[0] == 0.0 and stages[-1] == 1.0 and stages == sorted(stages)


def test_a_rerank_is_current_until_the_decisions_change(loop_run):
    store = review_top(loop_run, 10)
    result = rerank(loop_run, RerankConfig(method="refit_l2"))
    assert is_current(result, store.decisions())
    review_top(loop_run, 1, offset=10)
    assert not is_current(read_rerank(loop_run), store.decisions())
    store.record([int(store.decisions()[schema.SAMPLE_ID].iloc[-1])], reviews.CLEAR, "sim")
    assert not is_current(read_rerank(loop_run), store.decisions()), "a cleared decision changes the key too"
    assert rerank(loop_run, RerankConfig(method="refit_l2")).facts["n_decisions"] == 10


def test_the_rerank_reads_no_true_label(loop_run, tmp_path):
    """Scrambling true_label and is_noisy in samples.parquet changes nothing the loop computes."""
    review_top(loop_run, 20)
    first = rerank(loop_run, RerankConfig(method="blend"))
    path = loop_run / schema.SAMPLES
    samples = pd.read_parquet(path)
    rng = np.random.default_rng(0)
    samples[schema.TRUE_LABEL] = rng.permutation(samples[schema.TRUE_LABEL].to_numpy())
    samples[schema.IS_NOISY] = rng.permutation(samples[schema.IS_NOISY].to_numpy())
    samples.to_parquet(path, index=False)
    (loop_run / schema.TEST_LABELS).unlink()
    second = rerank(loop_run, RerankConfig(method="blend"))
    pd.testing.assert_frame_equal(first.frame, second.frame)
    assert first.facts["remaining"] == second.facts["remaining"]


def test_read_rerank_without_and_with_a_damaged_file(loop_run):
    assert read_rerank(loop_run) is None
    (loop_run / schema.RERANK).write_bytes(b"not parquet")
    with pytest.raises(RunDirError, match="corrupted"):
        read_rerank(loop_run)


def test_decisions_of_another_run_are_refused(loop_run):
    reviews.ReviewStore(loop_run).record([10_000], reviews.KEEP, "sim")
    with pytest.raises(ConfigError, match="outside"):
        rerank(loop_run)


def test_conflicts_are_stored_with_their_search(loop_run):
    assert read_conflicts(loop_run) is None
    pairs, facts = find_conflicts(loop_run)
    stored, stored_facts = read_conflicts(loop_run)
    pd.testing.assert_frame_equal(pairs, stored)
    assert stored_facts["config"] == ConflictConfig().to_dict() and stored_facts["n_queries"] == len(
        RunDir(loop_run).read_samples()
    )


def test_cli_rerank_and_conflicts(loop_run):
    runner = CliRunner()
    review_top(loop_run, 15)
    result = runner.invoke(app, ["rerank", str(loop_run), "--method", "refit_l2", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "from 15 decision(s)" in result.output and "wrong labels left" in result.output
    assert result.output.count("│") > 0 and read_rerank(loop_run).facts["method"] == "refit_l2"
    result = runner.invoke(app, ["conflicts", str(loop_run), "--distance-quantile", "0.3", "--top", "2"])
    assert result.exit_code == 0, result.output
    assert "conflicting pair(s)" in result.output and read_conflicts(loop_run)[1]["distance_quantile"] == 0.3
    bad = runner.invoke(app, ["rerank", str(loop_run), "--method", "nope"])
    assert bad.exit_code == 2 and "unknown re-ranking method 'nope'" in bad.output
    bad = runner.invoke(app, ["conflicts", str(loop_run), "--metric", "manhattan"])
    assert bad.exit_code == 2 and "conflicts.metric" in bad.output
