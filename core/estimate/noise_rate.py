"""How many training labels are wrong? Three estimators of the noise rate, each with a bootstrap interval.

The noise rate π is the share of training samples whose given label differs from the truth.
Every estimator here sees only the given labels and what the run computed from them (no true
label, no test label), and returns π̂ in [0, 1]:

- `confident_joint` (cleanlab, Northcutt et al. 2021): count, per pair (given i, predicted j),
  the samples whose out-of-fold probability of j reaches class j's mean self-confidence; calibrate
  the counts to the given-label marginals; π̂ = 1 − the trace of that joint.
- `l2_mixture`: a two-component Gaussian mixture on log(gradient L2 norm); the weight of the upper
  component (0 when BIC prefers a single component). It reads nothing but the scores.
- `counterfactual`: the last-layer gradient of sample i under label c is (p − e_c) ⊗ [h, 1], so
  ‖g_c‖ = ‖p − e_c‖·‖[h, 1]‖ and ‖p − e_c‖² = ‖p‖² − 2p_c + 1: some other label gives a
  smaller gradient than the given one exactly when p_y < max_c p_c. π̂ = the share of such
  samples, with p the out-of-fold probabilities (models that never saw the sample's label).

Each estimator applies to the task kinds its registry entry names (`estimator_for`): multi-label
and regression runs have their own in core.estimate.task_noise (the tag-set counterfactual, the
residual mixture); `l2_mixture` reads only scores and serves every task.

Each also has a `posterior(inputs, rate)`: (n,) float64, an estimated probability that each
sample's label is wrong, summing to about π̂·n. The estimated precision of a ranking at budget
k is the mean posterior of its top k, its recall their share of the posterior mass
(`precision_recall`). The interval (`estimate_with_interval`) is the percentile bootstrap over
training samples: B resamples of the rows, the estimator rerun on each, the model held fixed
(so it covers sampling noise, not the training run's own randomness). docs/budget.md measures
each against the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.detect.flagging import budget_count, ranking
from core.errors import ConfigError
from core.estimate.registry import NOISE_ESTIMATORS
from core.registry import Registry


@dataclass
class EstimateInputs:
    """What the estimators read, one row per training sample."""

    given: np.ndarray
    """The given labels in the task's form: (n,) int64 classes, (n, C) uint8 tags or (n,) float64 values."""
    oof_probs: np.ndarray
    """(n, C) float out-of-fold predictions in the task's form (probabilities, sigmoids, or (n, 1) values)."""
    probs: np.ndarray
    """(n, C) float in-sample predictions of the analyzed model, in the same form."""
    scores: np.ndarray
    """(n,) float64 gradient L2 norms (`grad_l2`), higher = more outlying: whatever detector is later flagged,
    the estimate reads the same scores, so the flagging decision never changes the suggested budget."""
    task: str = "classification"
    """The run's task kind (core.tasks.registry): which of an estimator's forms runs (`estimator_for`)."""

    def take(self, rows: np.ndarray) -> EstimateInputs:
        return EstimateInputs(self.given[rows], self.oof_probs[rows], self.probs[rows], self.scores[rows], self.task)

    def __len__(self) -> int:
        return len(self.given)


@dataclass(frozen=True)
class NoiseEstimator:
    """One registered estimator: its rate and its per-sample posterior."""

    rate: Callable[[EstimateInputs], float]
    posterior: Callable[[EstimateInputs, float], np.ndarray]


@dataclass
class Interval:
    """A point estimate of the noise rate with its bootstrap interval, as fractions of the training set."""

    value: float
    low: float
    high: float
    method: str
    level: float
    resamples: int
    rows: int
    """How many rows the estimator ran on (all, or a seeded subsample of `max_rows`)."""
    bootstrap_low: float = float("nan")
    bootstrap_high: float = float("nan")
    """The percentile bootstrap interval before `model_error` widened it to [low, high]."""
    model_error: float = 0.0

    def as_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "method": self.method,
                "level": self.level, "resamples": self.resamples, "rows": self.rows,
                "bootstrap_low": self.bootstrap_low, "bootstrap_high": self.bootstrap_high,
                "model_error": self.model_error}


# -- the estimators -------------------------------------------------------------------------------
def _given_prob(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    return np.asarray(probs, dtype=np.float64)[np.arange(len(given)), given]


def _scaled(weights: np.ndarray, rate: float) -> np.ndarray:
    """`weights` (n,) ≥ 0 scaled so they sum to rate·n, each capped at 1 (the cap's excess spread over the rest)."""
    weights = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    target = rate * len(weights)
    out = np.zeros_like(weights)
    if target <= 0 or weights.sum() <= 0:
        return out
    for _ in range(20):  # a few rounds settle the cap
        free = out < 1.0
        room = target - out[~free].sum()
        mass = weights[free].sum()
        if room <= 0 or mass <= 0:
            break
        out[free] = np.minimum(weights[free] * room / mass, 1.0)
        if abs(out.sum() - target) < 1e-9 * max(target, 1.0):
            break
    return out


def confident_joint(inputs: EstimateInputs) -> float:
    from cleanlab.count import estimate_joint

    joint = estimate_joint(inputs.given, np.asarray(inputs.oof_probs, dtype=np.float64))
    return float(np.clip(1.0 - np.trace(joint), 0.0, 1.0))


def confident_joint_posterior(inputs: EstimateInputs, rate: float) -> np.ndarray:
    """The counterfactual margin (`counterfactual_posterior`'s shape) scaled to the confident joint's rate."""
    return counterfactual_posterior(inputs, rate)


@dataclass(frozen=True)
class Mixture:
    """Two 1-D Gaussians fitted to log scores: weights, means, standard deviations; component 1 is the upper."""

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray

    def responsibilities(self, values: np.ndarray) -> np.ndarray:
        """(n, 2) posterior of each component for each value."""
        log_density = (-0.5 * ((values[:, None] - self.means) / self.stds) ** 2 - np.log(self.stds)
                       + np.log(np.clip(self.weights, 1e-300, None)))
        log_density -= log_density.max(axis=1, keepdims=True)
        density = np.exp(log_density)
        return density / density.sum(axis=1, keepdims=True)


MIXTURE_ITERATIONS = 500
MIXTURE_STARTS = (0.05, 0.2)
"""EM starts: the upper component begins as this top share of the values; the best likelihood wins."""
MIN_STD_FRACTION = 1e-3
"""A component's standard deviation is kept above this × the data's, so EM cannot collapse onto one value."""


def _log_scores(scores: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(scores, dtype=np.float64), 1e-12, None))


def _em(values: np.ndarray, upper: np.ndarray, floor: float) -> tuple[Mixture, float]:
    """EM from the hard split `upper`; (the mixture, its log-likelihood)."""
    resp = upper.astype(np.float64)
    previous = -np.inf
    for _ in range(MIXTURE_ITERATIONS):
        mass = np.array([len(values) - resp.sum(), resp.sum()]) + 1e-12
        means = np.array([((1 - resp) * values).sum(), (resp * values).sum()]) / mass
        stds = np.maximum(np.sqrt(np.array([((1 - resp) * (values - means[0]) ** 2).sum(),
                                            (resp * (values - means[1]) ** 2).sum()]) / mass), floor)
        weights = mass / len(values)
        log_parts = (-0.5 * ((values[:, None] - means) / stds) ** 2 - np.log(stds * np.sqrt(2 * np.pi))
                     + np.log(np.clip(weights, 1e-300, None)))
        top = log_parts.max(axis=1)
        log_total = top + np.log(np.exp(log_parts - top[:, None]).sum(axis=1))
        likelihood = float(log_total.sum())
        resp = np.exp(log_parts[:, 1] - log_total)
        if likelihood - previous < 1e-6 * len(values):
            break
        previous = likelihood
    return Mixture(weights, means, stds), likelihood


def fit_mixture(values: np.ndarray) -> Mixture | None:
    """EM for two 1-D Gaussians on `values` (from each of MIXTURE_STARTS; deterministic), or None when BIC
    (5 parameters against 2) prefers a single Gaussian. Component 1 is the one with the larger mean."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    spread = float(values.std())
    if n < 4 or spread == 0:
        return None
    fits = [_em(values, values > np.quantile(values, 1 - share), MIN_STD_FRACTION * spread)
            for share in MIXTURE_STARTS]
    model, likelihood = max(fits, key=lambda fit: fit[1])
    order = np.argsort(model.means)
    model = Mixture(model.weights[order], model.means[order], model.stds[order])
    two = -2 * likelihood + 5 * np.log(n)
    one = n * (np.log(2 * np.pi * spread ** 2) + 1) + 2 * np.log(n)
    return model if two < one else None


def l2_mixture(inputs: EstimateInputs) -> float:
    fitted = fit_mixture(_log_scores(inputs.scores))
    return 0.0 if fitted is None else float(fitted.weights[1])


def l2_mixture_posterior(inputs: EstimateInputs, rate: float) -> np.ndarray:
    """The upper component's responsibility for each sample (zeros with one component)."""
    values = _log_scores(inputs.scores)
    fitted = fit_mixture(values)
    return np.zeros(len(inputs)) if fitted is None else fitted.responsibilities(values)[:, 1]


def counterfactual_beaten(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(n,) bool: some label c ≠ y gives a smaller last-layer gradient than the given label y
    (‖p − e_c‖ < ‖p − e_y‖ ⇔ p_c > p_y), whatever ‖[h, 1]‖ is."""
    probs = np.asarray(probs, dtype=np.float64)
    return _given_prob(probs, given) < probs.max(axis=1)


def counterfactual(inputs: EstimateInputs) -> float:
    return float(counterfactual_beaten(inputs.oof_probs, inputs.given).mean()) if len(inputs) else 0.0


def counterfactual_posterior(inputs: EstimateInputs, rate: float) -> np.ndarray:
    """1 − p_oof(given) / max_c p_oof(c): 0 when the given label's gradient is the smallest, towards 1 the more
    another label beats it; scaled to sum to rate·n."""
    probs = np.asarray(inputs.oof_probs, dtype=np.float64)
    margin = 1.0 - _given_prob(probs, inputs.given) / np.clip(probs.max(axis=1), 1e-12, None)
    return _scaled(margin, rate)


CONFIDENT_JOINT = NoiseEstimator(confident_joint, confident_joint_posterior)
L2_MIXTURE = NoiseEstimator(l2_mixture, l2_mixture_posterior)
COUNTERFACTUAL = NoiseEstimator(counterfactual, counterfactual_posterior)


def estimator_for(name: str, task: str = "classification", registry: Registry = NOISE_ESTIMATORS) -> NoiseEstimator:
    """Estimator `name`, or a ConfigError when it does not apply to `task` (registry meta `tasks`)."""
    entry = registry.entry(registry.check(name))
    tasks = entry.meta.get("tasks", ("classification",))
    if task not in tasks:
        raise ConfigError(f"noise-rate estimator {name!r} applies to {', '.join(tasks)} runs, not {task}")
    return entry.load()


# -- intervals and what they say about a ranking --------------------------------------------------------
def subsample(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Every row when n ≤ max_rows, else a seeded sorted sample of max_rows rows."""
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def estimate_with_interval(name: str, inputs: EstimateInputs, *, resamples: int = 200, level: float = 0.95,
                           max_rows: int = 20_000, seed: int = 0, model_error: float = 0.0,
                           registry: Registry = NOISE_ESTIMATORS) -> Interval:
    """Estimator `name`'s noise rate on (at most `max_rows` of) the rows and its interval: the percentile
    bootstrap (`resamples` draws of the rows with replacement, the estimator rerun on each; the (1 − level)/2
    and (1 + level)/2 quantiles, widened to contain the point estimate), then `model_error` more on each side,
    clipped to [0, 1]."""
    estimate = estimator_for(name, inputs.task, registry).rate
    rows = subsample(len(inputs), max_rows, seed)
    base = inputs.take(rows)
    value = estimate(base)
    rng = np.random.default_rng(seed + 1)
    draws = np.array([estimate(base.take(rng.integers(0, len(rows), len(rows)))) for _ in range(resamples)])
    tail = (1.0 - level) / 2
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    low, high = float(min(low, value)), float(max(high, value))
    return Interval(value=float(value), low=max(low - model_error, 0.0), high=min(high + model_error, 1.0),
                    method=name, level=level, resamples=resamples, rows=len(rows), bootstrap_low=low,
                    bootstrap_high=high, model_error=model_error)


def posterior(name: str, inputs: EstimateInputs, rate: float) -> np.ndarray:
    """(n,) float64 in [0, 1]: estimator `name`'s probability that each given label is wrong."""
    return np.clip(estimator_for(name, inputs.task).posterior(inputs, rate), 0.0, 1.0)


def precision_recall(noise_probability: np.ndarray, scores: np.ndarray, budget: float) -> tuple[float, float]:
    """(estimated precision, estimated recall) of flagging the round(budget·n) highest `scores`
    (`flagged_precision_recall` of that mask)."""
    count = budget_count(budget, len(scores))
    mask = np.zeros(len(scores), dtype=bool)
    mask[ranking(scores)[:count]] = True
    return flagged_precision_recall(noise_probability, mask)


def flagged_precision_recall(noise_probability: np.ndarray, flagged: np.ndarray) -> tuple[float, float]:
    """(estimated precision, estimated recall) of a flagged set, (n,) bool: the mean `noise_probability` of the
    flagged samples, and their share of its total (nan when nothing is flagged or nothing is estimated wrong)."""
    probability = np.asarray(noise_probability, dtype=np.float64)
    if not flagged.any():
        return float("nan"), float("nan")
    chosen = probability[flagged]
    total = float(probability.sum())
    return float(chosen.mean()), (float(chosen.sum() / total) if total > 0 else float("nan"))


def precision_recall_curve(noise_probability: np.ndarray, scores: np.ndarray, budgets: np.ndarray) -> dict:
    """The estimated precision and recall (`precision_recall`) of flagging the top `budget_count(b, n)` scores
    for every b in `budgets` (m,), from one ranking: {"budget", "n_flagged", "precision", "recall"}, each (m,)."""
    probability = np.asarray(noise_probability, dtype=np.float64)
    n = len(probability)
    budgets = np.asarray(budgets, dtype=np.float64)
    counts = np.array([budget_count(b, n) for b in budgets], dtype=np.int64)
    mass = np.concatenate([[0.0], np.cumsum(probability[ranking(scores)])])
    flagged = mass[np.clip(counts, 0, n)]
    total = mass[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(counts > 0, flagged / np.maximum(counts, 1), np.nan)
        recall = flagged / total if total > 0 else np.full(len(budgets), np.nan)
    return {"budget": budgets, "n_flagged": counts, "precision": precision, "recall": recall}
