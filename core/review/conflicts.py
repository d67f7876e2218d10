"""`gradsift conflicts`: a run's near-duplicate pairs with conflicting given labels, stored as conflicts.parquet.

    frame, facts = find_conflicts(run_dir)       # writes conflicts.parquet (CONFLICT_COLUMNS, facts in its footer)
    read_conflicts(run_dir)                      # (frame, facts), or None before the first search

The search (core.review.duplicates) runs on the analyzed model's penultimate features (features.npy)
and the given labels in the run's label form (core.run.label_forms): classes, tag sets (multi-label: another tag
set conflicts) or values (regression: more than the form's tolerance apart conflicts); above `max_queries`
samples the flagged ones are always among the queries. given_a / given_b hold classes as int64, values as
float64, tag sets as JSON text (`stored_labels` reads any of them back in canonical form); the facts name the
task (and the tolerance of values).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from core.errors import RunDirError
from core.review.config import ConflictConfig
from core.review.duplicates import GIVEN_A, GIVEN_B, conflicting_pairs
from core.run import schema
from core.run.io import now_iso, write_parquet
from core.run.label_forms import LabelForm, form_of_run
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
    form = form_of_run(run.path)
    flagged = run.read_samples([schema.IS_FLAGGED])[schema.IS_FLAGGED].to_numpy(bool)
    labels = form.given_labels(run.path)
    features = run.read_npy(schema.FEATURES, mmap=True)
    if len(features) != len(flagged):
        raise RunDirError(f"{run.file(schema.FEATURES)} has {len(features)} rows for {len(flagged)} samples")
    pairs, facts = conflicting_pairs(
        features,
        labels,
        form=form,
        neighbors=config.neighbors,
        metric=config.metric,
        distance_quantile=config.distance_quantile,
        max_queries=config.max_queries,
        seed=int(manifest["config"]["seed"]),
        always_query=np.flatnonzero(flagged),
        progress=progress,
    )
    tolerance = {"tolerance": form.tolerance} if hasattr(form, "tolerance") else {}
    facts = {**facts, "task": form.name, **tolerance, "config": config.to_dict(),
             "run_fingerprint": manifest["config_fingerprint"],
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


def stored_labels(pairs: pd.DataFrame, form: LabelForm) -> tuple[list, list]:
    """The pairs' given_a and given_b in the form's canonical shape (class ints, tag tuples, float values)."""
    return tuple([form.decode(raw) for raw in pairs[column].tolist()] for column in (GIVEN_A, GIVEN_B))
