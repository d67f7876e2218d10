"""Cached reads of a run's team review (consensus, adjudication queue, progress, agreement), beside dashboard.data.

The same rule as dashboard.data: every cached reader takes the run path plus a stamp, here the modification times
of the review store (its SQLite file and write-ahead log, which every vote, adjudication, overlap or gold change
touches) and of the files the ranking and CROWDLAB read, so a new vote invalidates exactly these entries. The
computing is core's (core.review.assignment, core.review.consensus, core.review.team_stats); leasing the next
samples (`assignment.next_samples`) is a write and is never cached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.review import assignment, consensus, team_stats
from core.run import schema
from core.run.reviews import REVIEWS
from dashboard import data

_STORE_FILES = (REVIEWS, f"{REVIEWS}-wal", schema.OOF_PROBS, schema.SAMPLES, schema.MANIFEST, schema.RERANK)


def _stamp(run_path: str) -> tuple[int, ...]:
    return data._stamp(run_path, *_STORE_FILES)


def ranking(run_path: str) -> list[int]:
    """The flagged samples to hand out, most suspicious first: the run's flagging (its detector and budget) in score
    order, led by the re-ranking's unreviewed order when one exists (its best `count` samples, then the rest)."""
    flagging = data.flagging(run_path)
    frame = data.samples(run_path)
    mask = data.flagged_mask(run_path, flagging.detector)
    chosen = frame[mask]
    order = np.lexsort((chosen[schema.SAMPLE_ID].to_numpy(),
                        -chosen[schema.score_column(flagging.detector)].to_numpy(np.float64)))
    static = chosen[schema.SAMPLE_ID].to_numpy(np.int64)[order].tolist()
    result = data.rerank(run_path)
    if result is None:
        return static
    table = result.frame[result.frame[schema.RERANK_RANK] > 0].sort_values(schema.RERANK_RANK)
    first = table[schema.SAMPLE_ID].astype(int).head(len(static)).tolist()
    seen = set(first)
    return first + [i for i in static if i not in seen]


@st.cache_data(max_entries=16, show_spinner="Computing the team's consensus…")
def _team_summary(run_path: str, stamp: tuple[int, ...]) -> dict:
    return consensus.team_summary(data.review_store(run_path))


def team_summary(run_path: str) -> dict:
    """core.review.consensus.team_summary of the run's training reviews (CROWDLAB with the run's probabilities)."""
    return _team_summary(run_path, _stamp(run_path))


@st.cache_data(max_entries=16, show_spinner="Building the adjudication queue…")
def _adjudication_queue(run_path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    return consensus.adjudication_queue(data.review_store(run_path))


def adjudication_queue(run_path: str) -> pd.DataFrame:
    """core.review.consensus.adjudication_queue: open disagreements, then low-quality consensus."""
    return _adjudication_queue(run_path, _stamp(run_path))


@st.cache_data(max_entries=16, show_spinner=False)
def _progress(run_path: str, stamp: tuple[int, ...], ranked: tuple[int, ...]) -> dict:
    return assignment.progress(data.review_store(run_path), list(ranked))


def progress(run_path: str) -> dict:
    """core.review.assignment.progress on the flagged samples (`ranking`)."""
    return _progress(run_path, _stamp(run_path), tuple(ranking(run_path)))


@st.cache_data(max_entries=16, show_spinner=False)
def _agreement(run_path: str, stamp: tuple[int, ...]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    store = data.review_store(run_path)
    agreement, shared = team_stats.pairwise_agreement(store.resolution().votes, store.form)
    return agreement, shared, team_stats.pace(store.history())


def agreement_and_pace(run_path: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(pairwise agreement, shared sample counts, decisions per hour per annotator): core.review.team_stats."""
    return _agreement(run_path, _stamp(run_path))
