"""Stage 5, suggest: out-of-fold probabilities, the suggested budget with its interval, a label for every sample.

1. Out-of-fold probabilities (core.estimate.out_of_fold.out_of_fold_probs: the cross-fitted
   models', or K last-layer refits by default), stored as oof_probs.npy; cleanlab's baselines read
   them too.
2. The noise rate, by `suggest.noise_estimator` with its bootstrap interval, and the other
   registered estimators' point estimates for comparison (core.estimate.noise_rate): the
   manifest's `suggested_budget` and `noise_estimates`. With `detect.auto_budget` the point
   estimate (at least one sample, at most n − 1) becomes the run's budget: written into the
   manifest's config as detect.budget, which every later reader sees (`resolved_budget`).
3. Each sample's suggested label, its confidence and the runner-up (core.estimate.suggest), and its
   estimated probability of a wrong label: suggestions.parquet, merged into samples.parquet.

Nothing here reads a true or test label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.estimate.noise_rate import (
    EstimateInputs,
    estimate_with_interval,
    posterior,
    precision_recall,
    subsample,
)
from core.estimate.out_of_fold import out_of_fold_probs
from core.estimate.registry import LABEL_SUGGESTERS, NOISE_ESTIMATORS
from core.estimate.suggest import suggest_labels
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import write_npy, write_parquet


def resolved_budget(config, manifest: dict) -> float:
    """The budget the run flags at: the suggested one (resolved by this stage) with `detect.auto_budget`, else
    `detect.budget`."""
    if config.detect.auto_budget and "suggested_budget" in manifest:
        return float(manifest["suggested_budget"]["budget"])
    return float(config.detect.budget)


def clamp_budget(value: float, n: int) -> float:
    """`value` kept inside [1/n, (n − 1)/n]: a budget flags at least one sample and never all of them."""
    return float(min(max(value, 1.0 / n), (n - 1.0) / n))


def run(ctx: StageContext) -> dict:
    cfg, data, seed = ctx.config.suggest, ctx.dataset, ctx.config.seed
    oof = np.asarray(out_of_fold_probs(ctx), dtype=np.float32)
    write_npy(ctx.run.file(schema.OOF_PROBS), oof)
    factors = ctx.run.read_npz(schema.FACTORS)
    primary = ctx.run.read_parquet(schema.SCORES)[schema.score_column(ctx.config.detect.primary)].to_numpy(np.float64)
    inputs = EstimateInputs(given=np.asarray(data.given_train, dtype=np.int64), oof_probs=oof,
                            probs=factors["probs"], scores=primary)
    n = len(inputs)
    chosen = estimate_with_interval(cfg.noise_estimator, inputs, resamples=cfg.bootstrap, level=cfg.level,
                                    max_rows=cfg.max_rows, seed=seed, model_error=cfg.model_error)
    rows = subsample(n, cfg.max_rows, seed)
    others = {name: float(NOISE_ESTIMATORS.get(name).rate(inputs.take(rows)))
              for name in NOISE_ESTIMATORS if name != cfg.noise_estimator}
    noise_probability = posterior(cfg.noise_estimator, inputs, chosen.value)
    budget = clamp_budget(chosen.value, n)
    precision, recall = precision_recall(noise_probability, primary, budget)
    ctx.manifest["suggested_budget"] = {
        **chosen.as_dict(), "budget": budget, "estimated_precision": precision, "estimated_recall": recall,
        "applied": bool(ctx.config.detect.auto_budget),
        "interval": f"percentile bootstrap over the training samples ({cfg.bootstrap} resamples of "
                    f"{chosen.rows} rows, the model held fixed), {cfg.level:.0%}, widened by ±{cfg.model_error:.1%} "
                    "for the model's own error",
    }
    ctx.manifest["noise_estimates"] = {cfg.noise_estimator: chosen.value, **others}
    if ctx.config.detect.auto_budget:
        ctx.manifest["config"]["detect"]["budget"] = budget
    source = LABEL_SUGGESTERS.entry(cfg.label_suggester).meta["probs"]
    suggestions = suggest_labels(getattr(inputs, source))
    write_parquet(ctx.run.file(schema.SUGGESTIONS), pd.DataFrame({
        schema.SUGGESTED_LABEL: suggestions.label,
        schema.SUGGESTED_LABEL_CONFIDENCE: suggestions.confidence,
        schema.RUNNER_UP_LABEL: suggestions.runner_up,
        schema.RUNNER_UP_CONFIDENCE: suggestions.runner_up_confidence,
        schema.NOISE_PROBABILITY: noise_probability,
    }))
    ctx.reporter.message(f"suggested budget {chosen.value:.1%} ({cfg.level:.0%} interval {chosen.low:.1%} to "
                         f"{chosen.high:.1%}, {cfg.noise_estimator})"
                         + (": applied" if ctx.config.detect.auto_budget else ""))
    return {"suggested_budget": chosen.value}
