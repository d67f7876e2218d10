"""From the review history to each sample's current decision: votes, agreement, adjudication, gold.

Every annotator's latest `vote` row on a sample is its vote (`clear` withdraws it). Two votes *agree* when they
lead to the same training label (`outcome`): keep (the given class; a relabel to the given class is a keep),
relabel to class c, or remove (`mislabeled`). The other task kinds (core.run.label_forms) read the same way with
their own labels: a multi-label vote's outcome is a tag set (votes agree on the same set), a regression vote's a
value, and value votes agree when each lies within the form's tolerance of their median, the agreed decision
being a relabel to that median (a keep when it is the given value). A sample's current decision is, in this order:

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
from core.run.label_forms import ClassForm, LabelForm
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


def outcomes(frame: pd.DataFrame, given_labels, form: LabelForm | None = None) -> np.ndarray:
    """(rows,) `outcome` of every row of a history-shaped frame: int64 for classes; for the other kinds an object
    array of canonical labels (tag tuples, float values) and the int sentinels REMOVE / KEEP_UNKNOWN_GIVEN."""
    if form is not None and not isinstance(form, ClassForm):
        return _label_outcomes(frame, given_labels)
    ids = frame[schema.SAMPLE_ID].to_numpy(np.int64)
    actions = frame[ACTION].to_numpy()
    labels = frame[NEW_LABEL].fillna(-3).to_numpy(np.int64)
    out = np.where(actions == MISLABELED, REMOVE, np.where(actions == RELABEL, labels, KEEP_UNKNOWN_GIVEN))
    if given_labels is not None and len(ids):
        known = (actions == KEEP) & (ids < len(given_labels))
        out[known] = np.asarray(given_labels, np.int64)[ids[known]]
    return out.astype(np.int64)


def _canonical(label: object) -> object:
    """A given label as the outcomes hold it: a class int, a tag tuple, a float value."""
    if isinstance(label, (float, np.floating)):
        return float(label)
    if isinstance(label, (tuple, list, np.ndarray)):
        return tuple(int(t) for t in label)
    return int(label)


def _label_outcomes(frame: pd.DataFrame, given_labels) -> np.ndarray:
    out = np.empty(len(frame), dtype=object)
    for row, (sample_id, action, label) in enumerate(zip(frame[schema.SAMPLE_ID].to_numpy(np.int64),
                                                         frame[ACTION].to_numpy(), frame[NEW_LABEL].to_numpy(object))):
        if action == MISLABELED:
            out[row] = REMOVE
        elif action == RELABEL:
            out[row] = float(label) if isinstance(label, (float, np.floating)) else label
        elif given_labels is None or sample_id >= len(given_labels):
            out[row] = KEEP_UNKNOWN_GIVEN
        else:
            out[row] = _canonical(given_labels[sample_id])
    return out


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


def _gold_rows(gold: dict[int, object], given_labels, columns: list[str],
               form: LabelForm | None = None) -> pd.DataFrame:
    """One decision row per gold sample: keep when its gold label is the given one (`form.same`: a value within
    rounding), else a relabel to the gold label."""
    rows = []
    for sample_id, label in sorted(gold.items()):
        given = None if given_labels is None or sample_id >= len(given_labels) else _canonical(given_labels[sample_id])
        keep = given is not None and (given == label if form is None else form.same(given, label))
        rows.append({REVIEW_ID: -1, schema.SAMPLE_ID: sample_id, ACTION: KEEP if keep else RELABEL,
                     NEW_LABEL: None if keep else label, REVIEWER: GOLD_REVIEWER, CREATED: "", KIND: ADJUDICATION})
    frame = pd.DataFrame(rows, columns=columns)
    if form is not None and not isinstance(form, ClassForm):  # tag tuples and values, None (not NaN) for a keep
        frame[NEW_LABEL] = pd.Series([row[NEW_LABEL] for row in rows], index=frame.index, dtype=object)
    return frame


def _agreed_labels(agreed: pd.DataFrame, votes: pd.DataFrame, given_labels, form: LabelForm) -> pd.DataFrame:
    """The other kinds' agreed rows: a value's decision is the votes' median (`form.combine`), and a relabel to the
    given label is a keep."""
    agreed = agreed.copy()
    combined = votes.groupby(schema.SAMPLE_ID)["outcome"].agg(lambda s: form.combine(list(s)))
    for row in agreed.index:
        sample_id = int(agreed.at[row, schema.SAMPLE_ID])
        label = combined.loc[sample_id]
        # removes agree only with removes; the aggregate turns their REMOVE into -1.0 once other samples hold values
        if isinstance(label, float) and agreed.at[row, ACTION] != MISLABELED:
            agreed.at[row, ACTION], agreed.at[row, NEW_LABEL] = RELABEL, label
        known = given_labels is not None and sample_id < len(given_labels)
        if agreed.at[row, ACTION] == RELABEL and known:
            if form.same(agreed.at[row, NEW_LABEL], _canonical(given_labels[sample_id])):
                agreed.at[row, ACTION], agreed.at[row, NEW_LABEL] = KEEP, None
    return agreed


def resolve(history: pd.DataFrame, given_labels=None, gold: dict[int, object] | None = None,
            form: LabelForm | None = None) -> Resolution:
    """The current decisions of a review history (see the module docstring for the order); `form` says what the
    labels are (classes when None)."""
    gold = gold or {}
    by_class = form is None or isinstance(form, ClassForm)
    votes = current_votes(history).copy()
    votes["outcome"] = outcomes(votes, given_labels, form)
    adjudications = current_adjudications(history)
    settled = set(adjudications[schema.SAMPLE_ID].tolist()) | set(gold)
    if by_class:
        distinct = votes.groupby(schema.SAMPLE_ID)["outcome"].nunique()
        disagreeing = distinct.index[distinct.to_numpy() > 1].to_numpy(np.int64)
    else:
        agree = votes.groupby(schema.SAMPLE_ID)["outcome"].agg(lambda s: form.agree(list(s)))
        disagreeing = agree.index[~agree.to_numpy(bool)].to_numpy(np.int64)
    open_ids = np.array(sorted(set(disagreeing.tolist()) - settled), np.int64)
    agreed = votes[~votes[schema.SAMPLE_ID].isin(set(disagreeing.tolist()) | settled)]
    agreed = agreed.loc[agreed.groupby(schema.SAMPLE_ID)[REVIEW_ID].idxmax()] if len(agreed) else agreed
    if by_class:
        agreed = agreed.drop(columns="outcome")
        to_given = (agreed[ACTION] == RELABEL).to_numpy() & (
            outcomes(agreed, given_labels) == outcomes(agreed.assign(**{ACTION: KEEP}), given_labels))
        agreed.loc[to_given, ACTION] = KEEP
        agreed.loc[to_given, NEW_LABEL] = pd.NA
    else:
        agreed = _agreed_labels(agreed, votes, given_labels, form).drop(columns="outcome")
    gold_frame = _gold_rows({k: v for k, v in gold.items()
                             if k not in set(adjudications[schema.SAMPLE_ID].tolist())},
                            given_labels, list(history.columns), form)
    parts = [frame for frame in (adjudications, gold_frame, agreed) if len(frame)]
    decisions = pd.concat(parts, ignore_index=True) if parts else history.iloc[:0]
    decisions = decisions.astype(history.dtypes.to_dict()) if len(decisions) else history.iloc[:0]
    return Resolution(decisions=decisions.sort_values(schema.SAMPLE_ID).reset_index(drop=True), votes=votes,
                      open_disagreements=open_ids,
                      adjudicated=np.sort(adjudications[schema.SAMPLE_ID].to_numpy(np.int64)),
                      gold=np.array(sorted(gold), np.int64))
