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
from core.run.reviews import ACTION, CLEAR, CREATED, KIND, REVIEWER, UNDOES, VOTE


def pairwise_agreement(votes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(agreement, shared): two (annotators × annotators) frames, rows and columns sorted by name.

    `shared[a, b]` is the number of samples both a and b voted on; `agreement[a, b]` the fraction of those where
    their outcomes (a class, or remove) are the same, NaN where they share none. The diagonal counts each
    annotator's own votes and is 1 wherever it voted. `votes` is Resolution.votes (one current vote per
    sample and annotator, with its `outcome`)."""
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
