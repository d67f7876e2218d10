"""The documented budget rule, checked against counts worked out by hand: exactly round(k·n) flags, halves up
(core.detect.flagging). Python's own round() rounds halves to even, so the half cases are the ones that tell."""

import numpy as np
import pytest

from core.detect.flagging import budget_count, flag, flag_count

HAND_COUNTS = [
    # (budget k, n, flags): k·n worked out by hand in the comment
    (0.025, 100, 3),    # 2.5 → 3 (round() would give 2)
    (0.05, 150, 8),     # 7.5 → 8
    (0.1, 1797, 180),   # 179.7 → 180
    (0.05, 1797, 90),   # 89.85 → 90
    (0.05, 1437, 72),   # 71.85 → 72 (the digits training split)
    (0.15, 10, 2),      # 1.5 → 2
    (0.25, 10, 3),      # 2.5 → 3 (round() would give 2)
    (0.45, 10, 5),      # 4.5 → 5 (round() would give 4)
    (0.125, 4, 1),      # 0.5 → 1 (round() would give 0)
    (0.1, 7, 1),        # 0.7 → 1
    (0.04, 10, 0),      # 0.4 → 0
    (0.05, 100, 5),     # exactly 5
]


@pytest.mark.parametrize(("budget", "n", "expected"), HAND_COUNTS)
def test_budget_count_is_round_half_up(budget, n, expected):
    assert budget_count(budget, n) == expected


@pytest.mark.parametrize(("budget", "n", "expected"), [case for case in HAND_COUNTS if case[2] > 0])
def test_flag_marks_exactly_the_hand_count(budget, n, expected):
    scores = np.random.default_rng(n).normal(size=n)
    assert flag_count(budget, n) == expected
    mask = flag(scores, budget)
    assert mask.sum() == expected
    assert set(np.flatnonzero(mask)) == set(np.argsort(-scores)[:expected])


def test_ten_samples_at_a_quarter_flag_the_top_three():
    scores = np.array([0.1, 9.0, 0.2, 8.0, 0.3, 7.0, 0.4, 6.0, 0.5, 0.6])
    assert np.flatnonzero(flag(scores, 0.25)).tolist() == [1, 3, 5]
