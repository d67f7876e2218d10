"""Stage 5, suggest: out-of-fold probabilities, the suggested budget with its interval, a label for every sample.

1. Out-of-fold probabilities (core.estimate.out_of_fold.out_of_fold_probs: the cross-fitted
   models', or K last-layer refits by default), stored as oof_probs.npy; cleanlab's baselines read
   them too.
2. The noise rate, by `suggest.noise_estimator` with its bootstrap interval, and the other
   registered estimators' point estimates for comparison (core.estimate.noise_rate): the
   manifest's `suggested_budget` (its `budget` is the point estimate kept to at least one sample,
   at most n − 1: what `--budget auto` flags, resolved by the samples stage) and `noise_estimates`.
3. Each sample's suggested label, its confidence and the runner-up (core.estimate.suggest), and its
   estimated probability of a wrong label: suggestions.parquet, merged into samples.parquet.

Nothing here reads a true or test label, nor the flagging decision: changing the budget or the
primary detector never re-runs this stage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.estimate.noise_rate import (
    EstimateInputs,
    estimate_with_interval,
    posterior,
    subsample,
)
from core.estimate.out_of_fold import out_of_fold_probs
from core.estimate.registry import LABEL_SUGGESTERS, NOISE_ESTIMATORS
from core.estimate.suggest import suggest_labels
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import write_npy, write_parquet


def clamp_budget(value: float, n: int) -> float:
    """`value` kept inside [1/n, (n − 1)/n]: a budget flags at least one sample and never all of them."""
    return float(min(max(value, 1.0 / n), (n - 1.0) / n))


def run(ctx: StageContext) -> dict:
    cfg, data, seed = ctx.config.suggest, ctx.dataset, ctx.config.seed
    oof = np.asarray(out_of_fold_probs(ctx), dtype=np.float32)
    write_npy(ctx.run.file(schema.OOF_PROBS), oof)
    factors = ctx.run.read_npz(schema.FACTORS)
    inputs = EstimateInputs(given=np.asarray(data.given_train, dtype=np.int64), oof_probs=oof,
                            probs=factors["probs"], scores=np.asarray(factors["grad_l2"], dtype=np.float64))
    n = len(inputs)
    chosen = estimate_with_interval(cfg.noise_estimator, inputs, resamples=cfg.bootstrap, level=cfg.level,
                                    max_rows=cfg.max_rows, seed=seed, model_error=cfg.model_error)
    rows = subsample(n, cfg.max_rows, seed)
    others = {name: float(NOISE_ESTIMATORS.get(name).rate(inputs.take(rows)))
              for name in NOISE_ESTIMATORS if name != cfg.noise_estimator}
    noise_probability = posterior(cfg.noise_estimator, inputs, chosen.value)
    ctx.manifest["suggested_budget"] = {
        **chosen.as_dict(), "budget": clamp_budget(chosen.value, n),
        "interval": f"percentile bootstrap over the training samples ({cfg.bootstrap} resamples of "
                    f"{chosen.rows} rows, the model held fixed), {cfg.level:.0%}, widened by ±{cfg.model_error:.1%} "
                    "for the model's own error",
    }
    ctx.manifest["noise_estimates"] = {cfg.noise_estimator: chosen.value, **others}
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
                         f"{chosen.high:.1%}, {cfg.noise_estimator})")
    return {"suggested_budget": chosen.value}
