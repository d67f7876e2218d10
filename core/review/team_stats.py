"""Two per-annotator figures the Team page shows beside core.review.consensus.team_summary: how often each pair
of annotators agrees on the samples both decided, and each annotator's pace.

Pure functions of frames the review store already returns (Resolution.votes, ReviewStore.history), so the dashboard
computes nothing itself.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from core.review.consensus import vote_matrix
from core.review.consensus_kinds import agrees
from core.run.label_forms import ClassForm, LabelForm
from core.run.reviews import ACTION, CLEAR, CREATED, KIND, REVIEWER, UNDOES, VOTE
from core.run.schema import SAMPLE_ID


def pairwise_agreement(votes: pd.DataFrame, form: LabelForm | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(agreement, shared): two (annotators × annotators) frames, rows and columns sorted by name.

    `shared[a, b]` is the number of samples both a and b voted on; `agreement[a, b]` the fraction of those where
    their outcomes (a class, or remove) are the same, NaN where they share none. The diagonal counts each
    annotator's own votes and is 1 wherever it voted. `votes` is Resolution.votes (one current vote per
    sample and annotator, with its `outcome`). Tag and value runs (`form`): the same tag set, or values within the
    form's tolerance (core.review.consensus_kinds.agrees)."""
    if form is not None and not isinstance(form, ClassForm):
        return _pairwise_labels(votes, form)
    matrix = vote_matrix(votes)
    names = sorted(matrix.columns.tolist()) if not matrix.empty else []
    values = matrix[names].to_numpy(np.float64) if names else np.zeros((0, 0))
    voted = ~np.isnan(values)
    shared = voted.T.astype(np.int64) @ voted.astype(np.int64)
    same = np.zeros_like(shared)
    for a in range(len(names)):
        for b in range(len(names)):
            both = voted[:, a] & voted[:, b]
            same[a, b] = int((values[both, a] == values[both, b]).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(shared > 0, same / np.maximum(shared, 1), np.nan)
    return (pd.DataFrame(fraction, index=names, columns=names),
            pd.DataFrame(shared, index=names, columns=names))


def _pairwise_labels(votes: pd.DataFrame, form: LabelForm) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = sorted(set(votes[REVIEWER])) if len(votes) else []
    by_name = {name: dict(zip(part[SAMPLE_ID], part["outcome"])) for name, part in votes.groupby(REVIEWER)}
    shared = np.zeros((len(names), len(names)), np.int64)
    same = np.zeros_like(shared)
    for a, first in enumerate(names):
        for b, second in enumerate(names):
            both = set(by_name[first]) & set(by_name[second])
            shared[a, b] = len(both)
            same[a, b] = sum(agrees(form, by_name[first][i], by_name[second][i]) for i in both)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(shared > 0, same / np.maximum(shared, 1), np.nan)
    return (pd.DataFrame(fraction, index=names, columns=names),
            pd.DataFrame(shared, index=names, columns=names))


def pace(history: pd.DataFrame) -> dict[str, float | None]:
    """{annotator: decisions per hour}: its votes (not clears, not undos, not adjudications) divided by the hours
    between its first and last one; None with fewer than two votes or no time between them."""
    if not len(history):
        return {}
    rows = history[(history[KIND] == VOTE) & history[UNDOES].isna() & (history[ACTION] != CLEAR)]
    out: dict[str, float | None] = {}
    for name, part in rows.groupby(REVIEWER, sort=True):
        stamps = [datetime.fromisoformat(value) for value in part[CREATED]]
        hours = (max(stamps) - min(stamps)).total_seconds() / 3600
        out[str(name)] = len(stamps) / hours if len(stamps) >= 2 and hours > 0 else None
    return out
