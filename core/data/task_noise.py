"""Seeded label noise for tag sets and numeric targets: the errors people make when they type them.

Like the class-flipping models of core.data.noise, the caller draws which samples are corrupted
(exactly round(rate · n) of them) and a model here decides what each becomes; every corrupted
sample really changes (`Task.is_wrong` is true for it). Per corrupted sample, one kind is drawn
uniformly among the kinds that apply to it, and returned with the new labels so the source can
note how many of each it made.

Tag sets (`tags`, labels (n, C) uint8):
- `drop`: one of its tags removed (a missed tag); needs a tag;
- `swap`: one of its tags replaced by a confusable tag it does not hold; needs a tag and an absent one;
- `add`: a tag it does not hold added, uniformly among those (a stray tag); needs an absent tag.
Confusable: with a `confusions` map (tag index -> tag indices, nearest first; a source that knows
its tags gives one, e.g. mnist_pairs' digits that look alike), the first absent tag it lists;
otherwise the absent tag whose tag-mean input (the mean input of the samples holding the tag) is
nearest (Euclidean) to the swapped tag's; without inputs, an absent tag uniformly.

Targets (`targets`, labels (n,) float64):
- `swap`: takes another record's clean target, one that differs (a row mix-up);
- `digit`: one digit of the integer part dropped (152.5 -> 52.5, 12.5 or 15.5); needs |y| >= 10;
- `unit`: multiplied by one of `UNIT_FACTORS` (a value typed in the wrong unit); needs y != 0.
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import DataError

TAG_KINDS = ("drop", "swap", "add")
TARGET_KINDS = ("swap", "digit", "unit")
KIND_WORDS = {"drop": "tag dropped", "add": "tag added", "swap": "swapped", "digit": "digit dropped",
              "unit": "unit changed"}
"""How a note names each kind of error (a tag `swap` and a target `swap` read alike)."""
UNIT_FACTORS = (10.0, 100.0, 0.1, 0.01)
"""×10, ×100, ÷10, ÷100: a value typed in mm instead of cm, cents instead of euros, and back."""
SWAP_TRIES = 64
"""Random partners tried before a target swap searches every record for one with another value."""


def _tag_means_ranking(labels: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(C, C) int64: per tag, every tag ordered by the distance between tag-mean inputs, nearest first
    (tags without samples last)."""
    flat = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    counts = labels.sum(axis=0).astype(np.float64)
    means = (labels.T.astype(np.float64) @ flat) / np.maximum(counts, 1)[:, None]
    squared = (means ** 2).sum(axis=1)
    dist = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * means @ means.T, 0))
    dist[:, counts == 0] = np.inf
    np.fill_diagonal(dist, np.inf)
    return np.argsort(dist, axis=1, kind="stable")


def _confusable(tag: int, absent: np.ndarray, rng: np.random.Generator, confusions: dict[int, tuple[int, ...]] | None,
                ranking: np.ndarray | None) -> int:
    """The absent tag a `swap` puts in place of `tag` (module docstring: confusable)."""
    absent_set = set(absent.tolist())
    for candidate in (confusions or {}).get(tag, ()):
        if candidate in absent_set:
            return int(candidate)
    if ranking is not None:
        return int(next(c for c in ranking[tag] if c in absent_set))
    return int(rng.choice(absent))


def tag_noise(labels: np.ndarray, chosen: np.ndarray, n_classes: int, rng: np.random.Generator,
              features: np.ndarray | None, confusions: dict[int, tuple[int, ...]] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(new tag sets (k, C) uint8, kind of each (k,) str) for the `chosen` rows of `labels` (n, C)."""
    labels = np.asarray(labels, dtype=np.uint8)
    if n_classes < 2:
        raise DataError(f"tag noise needs at least 2 tags, got {n_classes}")
    ranking = _tag_means_ranking(labels, features) if features is not None and confusions is None else None
    new = labels[chosen].copy()
    kinds = []
    for row in new:
        present, absent = np.flatnonzero(row), np.flatnonzero(row == 0)
        usable = [k for k, ok in zip(TAG_KINDS, (len(present) > 0, len(present) > 0 and len(absent) > 0,
                                                 len(absent) > 0)) if ok]
        kind = usable[int(rng.integers(len(usable)))]
        if kind == "drop":
            row[rng.choice(present)] = 0
        elif kind == "add":
            row[rng.choice(absent)] = 1
        else:
            tag = int(rng.choice(present))
            row[_confusable(tag, absent, rng, confusions, ranking)] = 1
            row[tag] = 0
        kinds.append(kind)
    return new, np.asarray(kinds, dtype=object)


def drop_digit(value: float, position: int) -> float:
    """`value` with digit `position` (0 = leading) of its integer part removed, the decimals and sign kept, as a
    typist would (read from its shortest decimal text: 100.35 without its first digit is 0.35, not 0.3499...)."""
    whole, _, decimals = np.format_float_positional(abs(value), trim="-").partition(".")
    shorter = (whole[:position] + whole[position + 1:] or "0") + (f".{decimals}" if decimals else "")
    return math.copysign(float(shorter), value)


def _swap_partner(values: np.ndarray, row: int, rng: np.random.Generator) -> int | None:
    """A random record whose target differs from record `row`'s, or None when every target is the same."""
    for _ in range(SWAP_TRIES):
        other = int(rng.integers(len(values)))
        if not np.isclose(values[other], values[row], rtol=1e-6, atol=1e-9):
            return other
    differs = np.flatnonzero(~np.isclose(values, values[row], rtol=1e-6, atol=1e-9))
    return int(rng.choice(differs)) if len(differs) else None


def target_noise(labels: np.ndarray, chosen: np.ndarray, n_classes: int, rng: np.random.Generator,
                 features: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(new targets (k,) float64, kind of each (k,) str) for the `chosen` records of `labels` (n,)."""
    values = np.asarray(labels, dtype=np.float64)
    new = values[chosen].copy()
    kinds = []
    for j, row in enumerate(chosen):
        value = values[row]
        partner = _swap_partner(values, int(row), rng)
        usable = [k for k, ok in zip(TARGET_KINDS, (partner is not None, abs(value) >= 10, value != 0)) if ok]
        if not usable:
            raise DataError(f"cannot corrupt target {value!r} of record {row}: every target is the same")
        kind = usable[int(rng.integers(len(usable)))]
        if kind == "swap":
            new[j] = values[partner]
        elif kind == "digit":
            new[j] = drop_digit(value, int(rng.integers(len(str(math.floor(abs(value)))))))
        else:
            new[j] = value * UNIT_FACTORS[int(rng.integers(len(UNIT_FACTORS)))]
        kinds.append(kind)
    return new, np.asarray(kinds, dtype=object)
