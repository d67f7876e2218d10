"""Tag-set and target noise: exactly round(rate * n) samples changed, each by one error of a known kind, seeded."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.noise import check_noise_model, corrupt_labels, default_noise_model, inject_task_noise
from core.data.task_noise import UNIT_FACTORS, drop_digit
from core.errors import DataError


def _tag_sets(n: int, n_tags: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, n_tags)) < 0.3).astype(np.uint8)


def _targets(n: int, seed: int = 0) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(5, 900, n), 2)


def _tag_changes(clean: np.ndarray, noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, how many tags were removed and how many added."""
    return ((clean == 1) & (noisy == 0)).sum(axis=1), ((clean == 0) & (noisy == 1)).sum(axis=1)


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.1, 0.333, 1.0])
def test_tags_exact_count_and_kinds(rate: float) -> None:
    clean = _tag_sets(301, 6)
    noisy, kinds = inject_task_noise(clean, "multilabel", "tags", rate, np.random.default_rng(0))
    changed = (noisy != clean).any(axis=1)
    assert changed.sum() == round(rate * 301) == len(kinds)
    removed, added = _tag_changes(clean, noisy)
    expected = {"drop": (1, 0), "add": (0, 1), "swap": (1, 1)}
    assert [expected[k] for k in kinds] == list(zip(removed[changed], added[changed]))
    assert not removed[~changed].any() and not added[~changed].any()
    assert noisy.dtype == np.uint8 and set(np.unique(noisy)) <= {0, 1}
    if rate >= 0.333:
        assert set(kinds) == {"drop", "swap", "add"}


def test_tags_empty_set_only_gains_and_full_set_only_loses() -> None:
    clean = np.zeros((20, 4), dtype=np.uint8)
    clean[10:] = 1
    noisy, kinds = inject_task_noise(clean, "multilabel", "tags", 1.0, np.random.default_rng(3))
    assert list(kinds[:10]) == ["add"] * 10 and list(kinds[10:]) == ["drop"] * 10
    assert (noisy[:10].sum(axis=1) == 1).all() and (noisy[10:].sum(axis=1) == 3).all()


def test_tag_swap_takes_the_first_absent_confusable_tag() -> None:
    clean = np.zeros((60, 5), dtype=np.uint8)
    clean[np.arange(60), np.arange(60) % 5] = 1
    clean[::5, 1] = 1  # rows holding tag 0 also hold tag 1: their swap must skip 1 and take 2
    confusions = {0: (1, 2), 1: (3,), 2: (4,), 3: (0,), 4: (2,)}
    noisy, kinds = inject_task_noise(clean, "multilabel", "tags", 1.0, np.random.default_rng(0),
                                     confusions=confusions)
    swapped = np.flatnonzero(kinds == "swap")
    assert len(swapped) > 5
    for row in swapped:
        gone = int(np.flatnonzero((clean[row] == 1) & (noisy[row] == 0))[0])
        new = int(np.flatnonzero((clean[row] == 0) & (noisy[row] == 1))[0])
        assert new == next(t for t in confusions[gone] if clean[row, t] == 0)


def test_tag_swap_without_a_map_takes_the_nearest_tag_mean() -> None:
    # one tag per sample; tag means on a line at 0, 1 and 10: 0 and 1 swap with each other, 2 with 1
    tags = np.arange(90) % 3
    clean = np.eye(3, dtype=np.uint8)[tags]
    features = np.array([0.0, 1.0, 10.0])[tags][:, None] + np.random.default_rng(1).normal(0, 0.01, (90, 1))
    noisy, kinds = inject_task_noise(clean, "multilabel", "tags", 1.0, np.random.default_rng(0), features)
    nearest = {0: 1, 1: 0, 2: 1}
    swapped = np.flatnonzero(kinds == "swap")
    assert len(swapped) > 10
    assert all(noisy[row, nearest[tags[row]]] == 1 and noisy[row, tags[row]] == 0 for row in swapped)


@pytest.mark.parametrize("rate", [0.0, 0.08, 0.5, 1.0])
def test_targets_exact_count_and_kinds(rate: float) -> None:
    clean = _targets(400)
    noisy, kinds = inject_task_noise(clean, "regression", "targets", rate, np.random.default_rng(0))
    changed = ~np.isclose(noisy, clean, rtol=1e-6, atol=1e-9)
    assert changed.sum() == round(rate * 400) == len(kinds)
    assert np.array_equal(noisy[~changed], clean[~changed])
    for old, new, kind in zip(clean[changed], noisy[changed], kinds):
        if kind == "unit":
            assert any(np.isclose(new, old * f) for f in UNIT_FACTORS)
        elif kind == "digit":
            digits = str(int(old))
            candidates = {float(digits[:i] + digits[i + 1:] or "0") + round(old - int(old), 2)
                          for i in range(len(digits))}
            assert any(np.isclose(new, c) for c in candidates), (old, new)
        else:
            assert kind == "swap" and np.isclose(clean, new).any() and not np.isclose(new, old)
    if rate >= 0.5:
        assert set(kinds) == {"swap", "digit", "unit"}


def test_small_and_zero_targets_avoid_the_errors_they_cannot_have() -> None:
    clean = np.array([0.0, 3.0, 7.5, 0.0, 2.0] * 20)
    noisy, kinds = inject_task_noise(clean, "regression", "targets", 1.0, np.random.default_rng(0))
    assert "digit" not in set(kinds)  # no target has two integer digits
    assert all(kind == "swap" for kind, old in zip(kinds, clean) if old == 0)
    assert (~np.isclose(noisy, clean)).all()


@pytest.mark.parametrize(("value", "position", "expected"), [
    (152.5, 0, 52.5), (152.5, 1, 12.5), (152.5, 2, 15.5), (-346.0, 2, -34.0), (100.35, 0, 0.35), (10.0, 0, 0.0),
])
def test_drop_digit(value: float, position: int, expected: float) -> None:
    assert drop_digit(value, position) == expected


@pytest.mark.parametrize(("task", "labels"), [("multilabel", _tag_sets(50, 4)), ("regression", _targets(50))])
def test_seeded(task: str, labels: np.ndarray) -> None:
    model = default_noise_model(task)

    def run(seed: int) -> np.ndarray:
        return inject_task_noise(labels, task, model, 0.2, np.random.default_rng(seed))[0]

    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_default_models_and_wrong_task_refused() -> None:
    assert [default_noise_model(t) for t in ("classification", "multilabel", "regression")] == \
        ["symmetric", "tags", "targets"]
    with pytest.raises(DataError, match="noise model 'symmetric' corrupts classification labels; a multilabel "
                                        "dataset takes tags"):
        check_noise_model("symmetric", "multilabel")
    with pytest.raises(DataError, match="'tags' corrupts multilabel labels; a regression dataset takes targets"):
        inject_task_noise(_targets(10), "regression", "tags", 0.1, np.random.default_rng(0))
    with pytest.raises(DataError, match="'targets' corrupts regression labels; a classification dataset takes "
                                        "symmetric"):
        corrupt_labels(np.arange(10) % 2, "classification", 2, "targets", 0.1, np.random.default_rng(0))


def test_note_counts_each_kind() -> None:
    clean = _tag_sets(100, 5)
    noisy, note = corrupt_labels(clean, "multilabel", 5, "tags", 0.2, np.random.default_rng(0))
    removed, added = _tag_changes(clean, noisy)
    counts = {"tag dropped": int(((removed == 1) & (added == 0)).sum()),
              "tag added": int(((removed == 0) & (added == 1)).sum()),
              "swapped": int(((removed == 1) & (added == 1)).sum())}
    assert note.startswith("injected 20% tags noise: 20 tag sets changed (")
    assert all(f"{count} {kind}" in note for kind, count in counts.items() if count)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 120), n_tags=st.integers(2, 8), rate=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_property_tags_exact(n: int, n_tags: int, rate: float, seed: int) -> None:
    clean = _tag_sets(n, n_tags, seed)
    noisy, _ = inject_task_noise(clean, "multilabel", "tags", rate, np.random.default_rng(seed))
    assert (noisy != clean).any(axis=1).sum() == round(rate * n)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 120), rate=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_property_targets_exact(n: int, rate: float, seed: int) -> None:
    clean = _targets(n, seed)
    noisy, _ = inject_task_noise(clean, "regression", "targets", rate, np.random.default_rng(seed))
    assert (~np.isclose(noisy, clean, rtol=1e-6, atol=1e-9)).sum() == round(rate * n)
