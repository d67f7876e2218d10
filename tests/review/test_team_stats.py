"""core.review.team_stats: pairwise agreement and pace on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.review import team_stats
from core.review.consensus import OUTCOME
from core.run import schema
from core.run.reviews import ACTION, CREATED, KIND, REVIEWER, UNDOES


def test_pairwise_agreement_counts_shared_samples_and_same_outcomes():
    # a and b share samples 0, 1, 2 and agree on 0 and 2; c shares only sample 3 with a (disagreeing), none with b
    votes = pd.DataFrame({schema.SAMPLE_ID: [0, 0, 1, 1, 2, 2, 3, 3],
                          REVIEWER: ["a", "b", "a", "b", "b", "a", "a", "c"],
                          OUTCOME: [1, 1, 0, -1, 2, 2, 1, 0]})
    agreement, shared = team_stats.pairwise_agreement(votes)
    assert agreement.index.tolist() == ["a", "b", "c"]
    assert shared.loc["a", "b"] == 3 and shared.loc["a", "c"] == 1 and shared.loc["b", "c"] == 0
    assert shared.loc["a", "a"] == 4
    assert agreement.loc["a", "b"] == pytest.approx(2 / 3) and agreement.loc["b", "a"] == pytest.approx(2 / 3)
    assert agreement.loc["a", "c"] == 0.0 and np.isnan(agreement.loc["b", "c"])
    assert agreement.loc["c", "c"] == 1.0


def test_pairwise_agreement_of_no_votes_is_empty():
    agreement, shared = team_stats.pairwise_agreement(pd.DataFrame({schema.SAMPLE_ID: [], REVIEWER: [], OUTCOME: []}))
    assert agreement.empty and shared.empty


def test_pace_is_votes_per_hour_between_first_and_last():
    history = pd.DataFrame({
        REVIEWER: ["a", "a", "a", "a", "b", "c", "c"],
        ACTION: ["keep", "mislabeled", "clear", "keep", "keep", "keep", "keep"],
        KIND: ["vote", "vote", "vote", "vote", "vote", "vote", "adjudication"],
        UNDOES: pd.array([None, None, None, 1, None, None, None], dtype="Int64"),
        CREATED: ["2026-01-01T10:00:00.000+00:00", "2026-01-01T10:30:00.000+00:00", "2026-01-01T11:00:00.000+00:00",
                  "2026-01-01T12:00:00.000+00:00", "2026-01-01T10:00:00.000+00:00", "2026-01-01T10:00:00.000+00:00",
                  "2026-01-01T12:00:00.000+00:00"]})
    # a: two counted votes (the clear and the undo are not decisions) half an hour apart = 4 per hour
    assert team_stats.pace(history) == {"a": pytest.approx(4.0), "b": None, "c": None}
