"""`gradsift conflicts`: a run's near-duplicate pairs with conflicting given labels, stored as conflicts.parquet.

    frame, facts = find_conflicts(run_dir)       # writes conflicts.parquet (CONFLICT_COLUMNS, facts in its footer)
    read_conflicts(run_dir)                      # (frame, facts), or None before the first search

The search (core.review.duplicates) runs on the analyzed model's penultimate features (features.npy)
and the given labels; above `max_queries` samples the flagged ones are always among the queries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from core.errors import RunDirError
from core.review.config import ConflictConfig
from core.review.duplicates import conflicting_pairs
from core.run import schema
from core.run.io import now_iso, write_parquet
from core.run.label_forms import require_classification
from core.run.rundir import RunDir


def find_conflicts(run_path: str | os.PathLike, config: ConflictConfig | None = None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Search the run's conflicting near-duplicate pairs and write conflicts.parquet; returns (pairs, facts).

    progress(done, total) counts the query samples searched.
    """
    config = config or ConflictConfig()
    started = time.perf_counter()
    run = RunDir(run_path)
    manifest = run.read_manifest()
    require_classification(manifest, run.path, "the near-duplicate conflict search")
    frame = run.read_samples([schema.SAMPLE_ID, schema.GIVEN_LABEL, schema.IS_FLAGGED])
    features = run.read_npy(schema.FEATURES, mmap=True)
    if len(features) != len(frame):
        raise RunDirError(f"{run.file(schema.FEATURES)} has {len(features)} rows for {len(frame)} samples")
    pairs, facts = conflicting_pairs(
        features,
        frame[schema.GIVEN_LABEL].to_numpy(np.int64),
        neighbors=config.neighbors,
        metric=config.metric,
        distance_quantile=config.distance_quantile,
        max_queries=config.max_queries,
        seed=int(manifest["config"]["seed"]),
        always_query=np.flatnonzero(frame[schema.IS_FLAGGED].to_numpy(bool)),
        progress=progress,
    )
    facts = {**facts, "config": config.to_dict(), "run_fingerprint": manifest["config_fingerprint"],
             "created": now_iso(), "seconds": round(time.perf_counter() - started, 3)}
    write_parquet(run.file(schema.CONFLICTS), pairs, facts)
    return pairs, facts


def read_conflicts(run_path: str | os.PathLike) -> tuple[pd.DataFrame, dict] | None:
    """The stored pairs and the facts of their search; None when the run has not been searched yet."""
    run = RunDir(run_path)
    if not run.file(schema.CONFLICTS).exists():
        return None
    frame = run.read_parquet(schema.CONFLICTS)
    missing = [column for column in schema.CONFLICT_COLUMNS if column not in frame.columns]
    if missing:
        raise RunDirError(f"{run.file(schema.CONFLICTS)} lacks column(s) {', '.join(missing)}; delete it and run "
                          f"`gradsift conflicts {run.path}` again")
    return frame, run.read_parquet_facts(schema.CONFLICTS)
