"""`gradsift rerank`: re-rank a run's unreviewed samples with the reviewer's decisions, and re-estimate the
errors left among them.

    result = rerank(run_dir)                      # reads reviews.sqlite, writes rerank.parquet
    result.frame                                  # RERANK_COLUMNS, one row per training sample
    result.facts["remaining"]["estimate"]         # wrong labels expected among the unreviewed
    read_rerank(run_dir)                          # the latest re-ranking, or None
    is_current(result, store.decisions())         # made from exactly these decisions?

The re-ranking reads the run's scores, features and decisions (core.review.inputs; never a true or test
label), refits the last layer with the reviews applied (core.review.refit), scores every sample by the
chosen method (core.review.methods) and writes rerank.parquet atomically, its footer naming the
decisions it was made from (`decisions_key`, their count), the method, the settings and the estimate.
samples.parquet, the static ranking, is never touched. A re-ranking is the latest one only: the next one
replaces the file (the decisions themselves stay in reviews.sqlite).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.detect.flagging import ranking
from core.errors import RunDirError
from core.review.config import RerankConfig
from core.review.inputs import LoopInputs, ReviewState
from core.review.refit import Refits
from core.review.registry import RERANK_METHODS
from core.review.remaining import estimate_remaining
from core.run import reviews, schema
from core.run.io import now_iso, write_parquet
from core.run.rundir import RunDir

Progress = Callable[[str, float], None]


@dataclass
class RerankResult:
    """A re-ranking: the per-sample table and the facts of how it was made."""

    frame: pd.DataFrame
    """One row per training sample, columns schema.RERANK_COLUMNS."""
    facts: dict
    """method, config, decisions_key, n_decisions (consensus decisions only), n_wrong, n_kept, n_open_disagreements
    (samples whose votes disagree, left out until a lead adjudicates), remaining (the estimate), created, seconds."""

    @property
    def queue(self) -> np.ndarray:
        """(n_unreviewed,) int64 sample ids in the order to review them (rerank_rank 1 first)."""
        unreviewed = self.frame[self.frame[schema.RERANK_RANK] > 0]
        return unreviewed.sort_values(schema.RERANK_RANK)[schema.SAMPLE_ID].to_numpy(np.int64)


def rerank_arrays(inputs: LoopInputs, state: ReviewState, config: RerankConfig,
                  progress: Progress | None = None) -> tuple[pd.DataFrame, dict]:
    """The re-ranking of in-memory inputs: (frame with RERANK_COLUMNS, the estimate as a dict)."""
    report = progress or (lambda stage, fraction: None)
    refits = Refits(inputs, state, config, lambda stage, fraction: report(stage, 0.05 + 0.8 * fraction))
    scores = np.asarray(RERANK_METHODS.get(config.method)(inputs, state, refits), dtype=np.float64)
    report("refitting the last layer once more to estimate the errors left", 0.88)
    unreviewed, disagrees = state.unreviewed, refits.disagrees
    estimate = estimate_remaining(disagrees, inputs.static, state.reviewed, state.wrong,
                                  unreviewed)
    rank = np.zeros(inputs.n_samples, np.int64)
    rank[unreviewed[ranking(scores[unreviewed])]] = np.arange(1, len(unreviewed) + 1)
    was_reviewed = np.zeros(inputs.n_samples, bool)
    was_reviewed[state.reviewed] = True
    frame = pd.DataFrame({
        schema.SAMPLE_ID: np.arange(inputs.n_samples, dtype=np.int64), schema.RERANK_SCORE: scores,
        schema.RERANK_RANK: rank, schema.WAS_REVIEWED: was_reviewed,
        schema.RERANK_DISAGREES: disagrees,
    })
    return frame, estimate.to_dict()


def rerank(run_path: str | os.PathLike, config: RerankConfig | None = None,
           progress: Progress | None = None) -> RerankResult:
    """Re-rank the run's unreviewed samples from its current review decisions and write rerank.parquet.

    progress(stage, fraction in [0, 1]) is called as the refits go. Without any decision the re-ranking is
    still made (a refit with nothing applied), so the estimate of the errors is there from the start.
    """
    config = config or RerankConfig()
    report = progress or (lambda stage, fraction: None)
    started = time.perf_counter()
    run = RunDir(run_path)
    report("reading the run and the decisions", 0.0)
    inputs = LoopInputs.from_run(run)
    resolution = reviews.ReviewStore(
        run.path, n_samples=inputs.n_samples, given_labels=inputs.given_labels
    ).resolution()
    state = ReviewState.from_decisions(resolution.decisions, inputs.given_labels)
    frame, estimate = rerank_arrays(inputs, state, config, report)
    facts = {
        "method": config.method, "config": config.to_dict(), "decisions_key": state.key,
        "n_decisions": int(len(state.reviewed)), "n_wrong": int(state.wrong.sum()),
        "n_kept": int((~state.wrong).sum()), "remaining": estimate,
        "n_open_disagreements": int(len(resolution.open_disagreements)),
        "run_fingerprint": run.read_manifest()["config_fingerprint"], "created": now_iso(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_parquet(run.file(schema.RERANK), frame, facts)
    report("done", 1.0)
    return RerankResult(frame, facts)


def read_rerank(run_path: str | os.PathLike) -> RerankResult | None:
    """The run's latest re-ranking (None when it has none); a damaged file is a RunDirError saying what to do."""
    run = RunDir(run_path)
    path = run.file(schema.RERANK)
    if not path.exists():
        return None
    frame = run.read_parquet(schema.RERANK)
    missing = [column for column in schema.RERANK_COLUMNS if column not in frame.columns]
    facts = run.read_parquet_facts(schema.RERANK)
    if missing or "decisions_key" not in facts:
        raise RunDirError(f"{path} lacks {', '.join(missing) or 'its facts'}; delete it and run `gradsift rerank "
                          f"{run.path}` again")
    return RerankResult(frame, facts)


def is_current(result: RerankResult, decisions: pd.DataFrame) -> bool:
    """Whether `result` was made from exactly `decisions` (ReviewStore.decisions())."""
    return result.facts.get("decisions_key") == reviews.decisions_key(decisions)
