"""From the review history to each sample's current decision: votes, agreement, adjudication, gold.

Every annotator's latest `vote` row on a sample is its vote (`clear` withdraws it). Two votes *agree* when they
lead to the same training label (`outcome`): keep (the given class; a relabel to the given class is a keep),
relabel to class c, or remove (`mislabeled`). A sample's current decision is, in this order:

1. the lead's latest adjudication (final; a `clear` adjudication withdraws it);
2. its gold label when a lead marked it gold (a known label is final too): keep when it is the given label,
   else relabel to it;
3. the decision its votes agree on (one vote alone included, so one reviewer works exactly as before votes);

and none while its votes disagree: an *open disagreement*, left out of every decision (retraining, exports,
re-ranking) and counted until a lead adjudicates it. This module is pure (frames in, frames out); CROWDLAB's
consensus quality and annotator quality are computed on top of it in core.review.consensus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.run import schema
from core.run.review_db import (
    ACTION,
    ADJUDICATION,
    CLEAR,
    CREATED,
    KEEP,
    KIND,
    MISLABELED,
    NEW_LABEL,
    RELABEL,
    REVIEW_ID,
    REVIEWER,
    VOTE,
)

REMOVE = -1
"""The outcome of a `mislabeled` vote: the sample leaves the training set."""
KEEP_UNKNOWN_GIVEN = -2
"""The outcome of a `keep` when the given label is not known (then a relabel to it does not match a keep)."""
GOLD_REVIEWER = "(gold)"
"""The reviewer a gold sample's decision shows (review_id -1: it is a mark, not a row of `reviews`)."""


def outcome(action: str, new_label: object, given: int | None) -> int:
    """The training label a decision leads to: a class index, REMOVE, or KEEP_UNKNOWN_GIVEN."""
    if action == MISLABELED:
        return REMOVE
    if action == RELABEL:
        return int(new_label)
    return KEEP_UNKNOWN_GIVEN if given is None else int(given)


def outcomes(frame: pd.DataFrame, given_labels: np.ndarray | None) -> np.ndarray:
    """(rows,) int64 `outcome` of every row of a history-shaped frame."""
    ids = frame[schema.SAMPLE_ID].to_numpy(np.int64)
    actions = frame[ACTION].to_numpy()
    labels = frame[NEW_LABEL].fillna(-3).to_numpy(np.int64)
    out = np.where(actions == MISLABELED, REMOVE, np.where(actions == RELABEL, labels, KEEP_UNKNOWN_GIVEN))
    if given_labels is not None and len(ids):
        known = (actions == KEEP) & (ids < len(given_labels))
        out[known] = np.asarray(given_labels, np.int64)[ids[known]]
    return out.astype(np.int64)


def current_votes(history: pd.DataFrame) -> pd.DataFrame:
    """Each (sample, annotator)'s latest vote row, withdrawn ones (`clear`) dropped; sorted by sample, review id."""
    votes = history[history[KIND] == VOTE]
    latest = votes.loc[votes.groupby([schema.SAMPLE_ID, REVIEWER])[REVIEW_ID].idxmax()] if len(votes) else votes
    latest = latest[latest[ACTION] != CLEAR]
    return latest.sort_values([schema.SAMPLE_ID, REVIEW_ID]).reset_index(drop=True)


def current_adjudications(history: pd.DataFrame) -> pd.DataFrame:
    """Each sample's latest adjudication row, withdrawn ones dropped."""
    rows = history[history[KIND] == ADJUDICATION]
    latest = rows.loc[rows.groupby(schema.SAMPLE_ID)[REVIEW_ID].idxmax()] if len(rows) else rows
    return latest[latest[ACTION] != CLEAR].sort_values(schema.SAMPLE_ID).reset_index(drop=True)


@dataclass
class Resolution:
    """What the history says about each sample (frames have the history's columns)."""

    decisions: pd.DataFrame
    """One row per sample with a current decision (adjudicated, gold or agreed), sorted by sample_id."""
    votes: pd.DataFrame
    """Every current vote, with an `outcome` column."""
    open_disagreements: np.ndarray
    """(d,) int64 samples whose votes disagree and that no lead adjudicated nor marked gold."""
    adjudicated: np.ndarray
    """(a,) int64 samples with a current adjudication."""
    gold: np.ndarray
    """(g,) int64 gold samples (decided by their gold label unless adjudicated)."""


def _gold_rows(gold: dict[int, int], given_labels: np.ndarray | None, columns: list[str]) -> pd.DataFrame:
    rows = []
    for sample_id, label in sorted(gold.items()):
        given = None if given_labels is None or sample_id >= len(given_labels) else int(given_labels[sample_id])
        keep = given is not None and given == label
        rows.append({REVIEW_ID: -1, schema.SAMPLE_ID: sample_id, ACTION: KEEP if keep else RELABEL,
                     NEW_LABEL: None if keep else label, REVIEWER: GOLD_REVIEWER, CREATED: "", KIND: ADJUDICATION})
    return pd.DataFrame(rows, columns=columns)


def resolve(history: pd.DataFrame, given_labels: np.ndarray | None = None,
            gold: dict[int, int] | None = None) -> Resolution:
    """The current decisions of a review history (see the module docstring for the order)."""
    gold = gold or {}
    votes = current_votes(history).copy()
    votes["outcome"] = outcomes(votes, given_labels)
    adjudications = current_adjudications(history)
    settled = set(adjudications[schema.SAMPLE_ID].tolist()) | set(gold)
    distinct = votes.groupby(schema.SAMPLE_ID)["outcome"].nunique()
    disagreeing = distinct.index[distinct.to_numpy() > 1].to_numpy(np.int64)
    open_ids = np.array(sorted(set(disagreeing.tolist()) - settled), np.int64)
    agreed = votes[~votes[schema.SAMPLE_ID].isin(set(disagreeing.tolist()) | settled)]
    agreed = agreed.loc[agreed.groupby(schema.SAMPLE_ID)[REVIEW_ID].idxmax()] if len(agreed) else agreed
    agreed = agreed.drop(columns="outcome")
    to_given = (agreed[ACTION] == RELABEL).to_numpy() & (
        outcomes(agreed, given_labels) == outcomes(agreed.assign(**{ACTION: KEEP}), given_labels))
    agreed.loc[to_given, ACTION] = KEEP
    agreed.loc[to_given, NEW_LABEL] = pd.NA
    gold_frame = _gold_rows({k: v for k, v in gold.items()
                             if k not in set(adjudications[schema.SAMPLE_ID].tolist())},
                            given_labels, list(history.columns))
    parts = [frame for frame in (adjudications, gold_frame, agreed) if len(frame)]
    decisions = pd.concat(parts, ignore_index=True) if parts else history.iloc[:0]
    decisions = decisions.astype(history.dtypes.to_dict()) if len(decisions) else history.iloc[:0]
    return Resolution(decisions=decisions.sort_values(schema.SAMPLE_ID).reset_index(drop=True), votes=votes,
                      open_disagreements=open_ids,
                      adjudicated=np.sort(adjudications[schema.SAMPLE_ID].to_numpy(np.int64)),
                      gold=np.array(sorted(gold), np.int64))
