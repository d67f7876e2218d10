"""Seeded label-noise models: corrupt a known share of labels so detection can be scored.

Every model changes EXACTLY `round(rate * n)` labels (Python's `round`), each to a
class different from its own, so the number of truly noisy samples is known in
advance. Which samples are corrupted is drawn from the caller's generator; what
they become is the model's job:

- `symmetric`: uniform over the other classes (the classic "random flip").
- `pairflip`: class c -> (c + 1) mod C (a fixed systematic confusion).
- `human`: a human-like confusion model; a sample of class c is relabelled c' with
  probability proportional to exp(-dist(mean_c, mean_c') / tau) over c' != c, where
  mean_c is the mean input of class c and tau the median distance between class means.
  Classes that look alike are confused more often, as with human annotators.

Tag sets and numeric targets have their own models (core.data.task_noise: `tags`, `targets`);
each registered model names the task it fits (registry meta `task`), a model of another task is a
DataError, and `corrupt_labels` / `noisy_train_labels` inject into any task's labels.

Adding a model is one function and one line in core.data.registry.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.config import DataConfig
from core.data.registry import NOISE_MODELS
from core.data.task_noise import KIND_WORDS
from core.errors import DataError

NoiseFn = Callable[[np.ndarray, np.ndarray, int, np.random.Generator, "np.ndarray | None"], np.ndarray]
"""(labels (n,), chosen indices (k,), n_classes, rng, features (n, ...) or None) -> new labels (k,)."""

def check_noise_model(model: str, task: str | None = None) -> str:
    """`model` if it is a registered noise model (for `task`'s labels when given), else a DataError listing them."""
    NOISE_MODELS.check(model, error=DataError)
    fits = NOISE_MODELS.entry(model).meta["task"]
    if task is not None and fits != task:
        raise DataError(f"noise model {model!r} corrupts {fits} labels; a {task} dataset takes "
                        f"{', '.join(task_noise_models(task))}")
    return model


def task_noise_models(task: str) -> list[str]:
    """The noise models that fit `task`'s labels, its default first."""
    names = [name for name in NOISE_MODELS if NOISE_MODELS.entry(name).meta["task"] == task]
    return sorted(names, key=lambda name: not NOISE_MODELS.entry(name).meta["default"])


def default_noise_model(task: str) -> str:
    """The model a `task` dataset's noise is injected with when `--noise` is unset (symmetric, tags, targets)."""
    return task_noise_models(task)[0]


def symmetric_flip(labels: np.ndarray, chosen: np.ndarray, n_classes: int, rng: np.random.Generator,
               features: np.ndarray | None) -> np.ndarray:
    offsets = rng.integers(1, n_classes, size=len(chosen))
    return (labels[chosen] + offsets) % n_classes


def pair_flip(labels: np.ndarray, chosen: np.ndarray, n_classes: int, rng: np.random.Generator,
              features: np.ndarray | None) -> np.ndarray:
    return (labels[chosen] + 1) % n_classes


def confusion_probabilities(labels: np.ndarray, n_classes: int, features: np.ndarray) -> np.ndarray:
    """(C, C) row-stochastic matrix of the `human` model; zero diagonal.

    Row c gives the probability that a corrupted sample of class c is relabelled as
    each other class: proportional to exp(-d(c, c') / tau), with d the Euclidean
    distance between class-mean inputs and tau the median of those distances.
    Classes without samples are never targets; rows that cannot be estimated fall back
    to uniform over the other classes.
    """
    flat = features.reshape(len(features), -1)
    means = np.full((n_classes, flat.shape[1]), np.nan)
    for c in np.unique(labels):
        means[c] = flat[labels == c].mean(axis=0, dtype=np.float64)
    diff = means[:, None, :] - means[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    dist[~np.isfinite(dist)] = np.inf
    off_diag = ~np.eye(n_classes, dtype=bool)
    finite = dist[off_diag & np.isfinite(dist)]
    tau = float(np.median(finite)) if finite.size else 0.0
    probs = np.zeros((n_classes, n_classes))
    for c in range(n_classes):
        row = dist[c].copy()
        row[c] = np.inf
        if tau > 0 and np.isfinite(row).any():
            weights = np.exp(-(row - row[np.isfinite(row)].min()) / tau)
        else:
            weights = off_diag[c].astype(float)
        probs[c] = weights / weights.sum()
    return probs


def human_flip(labels: np.ndarray, chosen: np.ndarray, n_classes: int, rng: np.random.Generator,
           features: np.ndarray | None) -> np.ndarray:
    if features is None:
        raise DataError("the 'human' noise model needs the inputs to compute class means; none were given")
    probs = confusion_probabilities(labels, n_classes, features)
    old = labels[chosen]
    new = old.copy()
    for c in np.unique(old):
        where = old == c
        new[where] = rng.choice(n_classes, size=int(where.sum()), p=probs[c])
    return new


def inject_noise(labels: np.ndarray, n_classes: int, model: str, rate: float, rng: np.random.Generator,
                 features: np.ndarray | None = None) -> np.ndarray:
    """Return a copy of `labels` (n,) int64 with exactly round(rate * n) entries changed.

    The corrupted samples are a uniform draw without replacement from `rng`; each gets a
    class different from its own, chosen by `model`. `features` (n, ...) are the inputs,
    needed by the `human` model only.
    """
    check_noise_model(model, "classification")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1:
        raise DataError(f"labels must be one-dimensional, got shape {labels.shape}")
    if n_classes < 2:
        raise DataError(f"label noise needs at least 2 classes, got {n_classes}")
    if not 0 <= rate <= 1:
        raise DataError(f"noise rate must be in [0, 1], got {rate}")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"labels must lie in [0, {n_classes - 1}]")
    if features is not None and len(features) != len(labels):
        raise DataError(f"features hold {len(features)} samples for {len(labels)} labels")
    n_changed = round(rate * len(labels))
    noisy = labels.copy()
    if n_changed == 0:
        return noisy
    chosen = np.sort(rng.choice(len(labels), size=n_changed, replace=False))
    noisy[chosen] = NOISE_MODELS.get(model)(labels, chosen, n_classes, rng, features)
    return noisy


def flip_per_class(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Return a copy of `labels` (n,) with exactly `per_class` samples of every class flipped.

    This is the paper's synthetic setup (blobs: 5 per class, moons: 10 per class). With two
    classes a flip is c -> 1 - c; with more, the new class is uniform over the others.
    """
    labels = np.asarray(labels, dtype=np.int64)
    classes = np.unique(labels)
    n_classes = max(int(labels.max()) + 1, 2) if len(labels) else 2
    noisy = labels.copy()
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise DataError(f"cannot flip {per_class} labels of class {c}: it has only {len(members)} samples")
        chosen = rng.choice(members, size=per_class, replace=False)
        noisy[chosen] = (c + rng.integers(1, n_classes, size=per_class)) % n_classes
    return noisy


def describe_noise(model: str, rate: float, n_changed: int) -> str:
    """One-line note for `Dataset.notes`, e.g. 'injected 10% symmetric noise: 144 labels changed'."""
    if rate == 0:
        return "no label noise injected (noise_rate 0): given labels are the clean labels"
    return f"injected {rate * 100:g}% {model} noise: {n_changed} labels changed"


def inject_task_noise(labels: np.ndarray, task: str, model: str, rate: float, rng: np.random.Generator,
                      features: np.ndarray | None = None, **options: object) -> tuple[np.ndarray, np.ndarray]:
    """(a copy of multilabel or regression `labels` with exactly round(rate * n) samples changed, the (k,)
    rows changed). The rows are a uniform draw without replacement from `rng`; `model` (of `task`) decides
    each one's error; `options` go to the model (`confusions` for `tags`)."""
    check_noise_model(model, task)
    if not 0 <= rate <= 1:
        raise DataError(f"noise rate must be in [0, 1], got {rate}")
    labels = np.asarray(labels)
    if features is not None and len(features) != len(labels):
        raise DataError(f"features hold {len(features)} samples for {len(labels)} labels")
    noisy = labels.copy()
    n_changed = round(rate * len(labels))
    if n_changed == 0:
        return noisy, np.empty(0, dtype=object)
    chosen = np.sort(rng.choice(len(labels), size=n_changed, replace=False))
    n_outputs = labels.shape[1] if labels.ndim == 2 else 1
    noisy[chosen], kinds = NOISE_MODELS.get(model)(labels, chosen, n_outputs, rng, features, **options)
    return noisy, kinds


def corrupt_labels(clean: np.ndarray, task: str, n_classes: int, model: str, rate: float, rng: np.random.Generator,
                   features: np.ndarray | None = None, **options: object) -> tuple[np.ndarray, str]:
    """(noisy labels, the note saying what was done) for any task's labels: `inject_noise` for classes,
    `inject_task_noise` for tag sets and targets (the note counts each kind of error)."""
    if task == "classification":
        noisy = inject_noise(clean, n_classes, model, rate, rng, features)
        return noisy, describe_noise(model, rate, int((noisy != clean).sum()))
    noisy, kinds = inject_task_noise(clean, task, model, rate, rng, features, **options)
    if rate == 0:
        return noisy, describe_noise(model, rate, 0)
    counts = ", ".join(f"{int((kinds == kind).sum())} {KIND_WORDS[kind]}" for kind in sorted(set(kinds.tolist())))
    noun = "tag sets" if task == "multilabel" else "targets"
    return noisy, f"injected {rate * 100:g}% {model} noise: {len(kinds)} {noun} changed ({counts or 'none'})"


def noise_from_config(cfg: DataConfig, default_model: str, default_rate: float) -> tuple[str, float]:
    """(model, rate) the config asks for, with the source's defaults filling unset fields."""
    model = check_noise_model(cfg.noise if cfg.noise is not None else default_model)
    rate = cfg.noise_rate if cfg.noise_rate is not None else default_rate
    return model, float(rate)


def noisy_train_labels(clean: np.ndarray, n_classes: int, cfg: DataConfig, rng: np.random.Generator,
                       features: np.ndarray | None, default_rate: float, default_model: str | None = None,
                       task: str = "classification", **options: object) -> tuple[np.ndarray, str]:
    """Given labels (the task's form) and a note, for sources whose clean labels are known (digits, mnist5k,
    mnist_pairs, diabetes, ...).

    The config's noise model and rate override the defaults (the model: the task's default unless the
    source names one); a rate of 0 returns the clean labels unchanged.
    """
    model, rate = noise_from_config(cfg, default_model or default_noise_model(task), default_rate)
    return corrupt_labels(clean, task, n_classes, model, rate, rng, features, **options)
