"""Noise-rate estimators for multi-label and regression runs (the classification ones: core.estimate.noise_rate).

- `tagset_counterfactual` (TAGSET_COUNTERFACTUAL), the counterfactual's multi-label form: the sigmoid
  head's last-layer gradient under a tag set t is (σ − t) ⊗ [h, 1], so ‖g_t‖ = ‖σ − t‖·‖[h, 1]‖, and
  ‖σ − t‖² = Σ_c (σ_c − t_c)² is smallest at t̂_c = [σ_c > ½], tag by tag. Some tag set gives a smaller
  gradient than the given y exactly when some tag has |σ_c − y_c| > ½; π̂ = the share of such samples, σ
  the out-of-fold sigmoids. Its posterior is the classification margin's analogue: 1 − P(y)/P(t̂) under
  independent tags, P(y) = Π_c σ_c^{y_c} (1 − σ_c)^{1 − y_c}, scaled to sum to π̂·n. (Measured, it
  over-counts as the noise grows: multi-label runs default to `l2_mixture`, docs/tasks.md.)
- `residual_mixture` for regression (RESIDUAL_MIXTURE): the out-of-fold residuals e = ŷ_oof − y, centred
  on their median and divided by 1.4826·MAD (robust to the errors being counted), fitted by a scale
  mixture of two zero-mean Gaussians (clean: unit-like spread; wrong: wide) by EM; BIC against a single
  Gaussian decides whether there is a wide component at all. π̂ = its weight, the posterior its
  responsibility. A wrong value (a swapped record, a dropped digit, a unit change) lands far from what
  the other records predict, whatever its sign.

`l2_mixture` (core.estimate.noise_rate) reads only the gradient norms and serves every task as it is (the
multi-label default).
docs/tasks.md measures these against the truth.
"""

from __future__ import annotations

import numpy as np

from core.estimate.noise_rate import EstimateInputs, NoiseEstimator, _scaled

TAG_THRESHOLD = 0.5


# -- multi-label --------------------------------------------------------------------------------------------------
def tagset_beaten(sigmoids: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(n,) bool: some tag set gives a smaller last-layer gradient than the given one (some |σ_c − y_c| > ½)."""
    gap = np.abs(np.asarray(sigmoids, dtype=np.float64) - np.asarray(given, dtype=np.float64))
    return (gap > TAG_THRESHOLD).any(axis=1)


def tagset_margin(sigmoids: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(n,) float64 in [0, 1): 1 − P(given set) / P(most likely set) under independent tags with probabilities
    σ (0 when the given set is the most likely one)."""
    sigma = np.clip(np.asarray(sigmoids, dtype=np.float64), 1e-12, 1 - 1e-12)
    given = np.asarray(given, dtype=np.float64)
    given_prob = np.where(given > 0, sigma, 1 - sigma)
    best_prob = np.maximum(sigma, 1 - sigma)
    return 1.0 - np.exp((np.log(given_prob) - np.log(best_prob)).sum(axis=1))


def tagset_counterfactual(inputs: EstimateInputs) -> float:
    return float(tagset_beaten(inputs.oof_probs, inputs.given).mean()) if len(inputs) else 0.0


def tagset_counterfactual_posterior(inputs: EstimateInputs, rate: float) -> np.ndarray:
    return _scaled(tagset_margin(inputs.oof_probs, inputs.given), rate)


TAGSET_COUNTERFACTUAL = NoiseEstimator(tagset_counterfactual, tagset_counterfactual_posterior)


# -- regression ---------------------------------------------------------------------------------------------------
MAD_SCALE = 1.4826
"""1.4826 · MAD estimates a Gaussian's standard deviation."""
MIXTURE_ITERATIONS = 300
WIDE_START = 10.0
"""EM's start: the wide component's spread, in robust standard deviations of the residuals."""


def standardized_residuals(predictions: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(n,) float64 (ŷ − y − median) / (1.4826·MAD) of the residuals (their standard deviation when the MAD is 0)."""
    residual = np.asarray(predictions, dtype=np.float64).reshape(len(given), -1)[:, 0] - np.asarray(given, np.float64)
    centred = residual - np.median(residual)
    scale = MAD_SCALE * float(np.median(np.abs(centred)))
    if not scale > 0:
        scale = float(centred.std())
    return centred / scale if scale > 0 else np.zeros_like(centred)


def _log_normal(values: np.ndarray, std: float) -> np.ndarray:
    return -0.5 * (values / std) ** 2 - np.log(std * np.sqrt(2 * np.pi))


def fit_scale_mixture(values: np.ndarray) -> tuple[float, float, float] | None:
    """EM for (1 − π)·N(0, s₀²) + π·N(0, s₁²), s₁ ≥ s₀, on `values`; (π, s₀, s₁), or None when BIC (3 parameters
    against 1) prefers a single zero-mean Gaussian. Deterministic: starts at π = 0.05, s₀ = 1, s₁ = WIDE_START."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    spread = float(np.sqrt(np.mean(values ** 2)))
    if n < 4 or spread == 0:
        return None
    floor = 1e-3 * spread
    weight, stds = 0.05, np.array([1.0, WIDE_START])
    previous = -np.inf
    for _ in range(MIXTURE_ITERATIONS):
        parts = np.stack([np.log(1 - weight) + _log_normal(values, stds[0]),
                          np.log(weight) + _log_normal(values, stds[1])], axis=1)
        top = parts.max(axis=1)
        total = top + np.log(np.exp(parts - top[:, None]).sum(axis=1))
        likelihood = float(total.sum())
        resp = np.exp(parts[:, 1] - total)
        mass = float(np.clip(resp.sum(), 1e-9, n - 1e-9))
        weight = mass / n
        stds = np.maximum(np.sqrt(np.array([((1 - resp) * values ** 2).sum() / (n - mass),
                                            (resp * values ** 2).sum() / mass])), floor)
        if likelihood - previous < 1e-6 * n:
            break
        previous = likelihood
    if stds[1] < stds[0]:
        weight, stds = 1 - weight, stds[::-1]
    two = -2 * likelihood + 3 * np.log(n)
    one = -2 * float(_log_normal(values, spread).sum()) + np.log(n)
    return (weight, float(stds[0]), float(stds[1])) if two < one else None


def wide_responsibility(values: np.ndarray, fit: tuple[float, float, float] | None) -> np.ndarray:
    """(n,) the wide component's posterior for each value (zeros without one)."""
    if fit is None:
        return np.zeros(len(values))
    weight, clean_std, wide_std = fit
    clean = np.log(1 - weight) + _log_normal(values, clean_std)
    wide = np.log(weight) + _log_normal(values, wide_std)
    return 1.0 / (1.0 + np.exp(np.clip(clean - wide, -700, 700)))


def residual_mixture(inputs: EstimateInputs) -> float:
    fit = fit_scale_mixture(standardized_residuals(inputs.oof_probs, inputs.given))
    return 0.0 if fit is None else float(fit[0])


def residual_mixture_posterior(inputs: EstimateInputs, rate: float) -> np.ndarray:
    values = standardized_residuals(inputs.oof_probs, inputs.given)
    return wide_responsibility(values, fit_scale_mixture(values))


RESIDUAL_MIXTURE = NoiseEstimator(residual_mixture, residual_mixture_posterior)
