"""Stage 5, suggest: out-of-fold probabilities, the suggested budget with its interval, a label for every sample.

1. Out-of-fold probabilities (core.estimate.out_of_fold.out_of_fold_probs: the cross-fitted
   models', or K last-layer refits by default), stored as oof_probs.npy in the task's prediction
   form (sigmoids for multi-label, values for regression); cleanlab's baselines read them too.
2. The noise rate, by `suggest.noise_estimator` with its bootstrap interval (the task's own estimator
   when it does not apply to the run's task: the manifest's `suggested_budget` says which ran and
   why), and the other applicable estimators' point estimates for comparison (core.estimate.noise_rate): the
   manifest's `suggested_budget` (its `budget` is the point estimate kept to at least one sample,
   at most n − 1: what `--budget auto` flags, resolved by the samples stage) and `noise_estimates`.
3. Each sample's suggested label, its confidence and the runner-up (core.estimate.suggest; a tag set
   with per-tag confidences, or a value with an interval: core.pipeline.task_columns), and its
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
    estimator_for,
    posterior,
    subsample,
)
from core.estimate.out_of_fold import out_of_fold_probs
from core.estimate.registry import LABEL_SUGGESTERS, NOISE_ESTIMATORS, TASK_NOISE_ESTIMATORS
from core.pipeline.context import StageContext
from core.pipeline.task_columns import suggestion_columns
from core.run import schema
from core.run.io import write_npy, write_parquet


def clamp_budget(value: float, n: int) -> float:
    """`value` kept inside [1/n, (n − 1)/n]: a budget flags at least one sample and never all of them."""
    return float(min(max(value, 1.0 / n), (n - 1.0) / n))


def chosen_estimator(configured: str, task: str) -> tuple[str, str | None]:
    """(the estimator that runs, a note when it is not the configured one): `configured` when it applies to the
    task, else the task's own (core.estimate.registry.TASK_NOISE_ESTIMATORS)."""
    if task in NOISE_ESTIMATORS.entry(configured).meta.get("tasks", ("classification",)):
        return configured, None
    fallback = TASK_NOISE_ESTIMATORS[task]
    return fallback, f"{configured} does not apply to {task} runs; {fallback} ran ({task}'s default)"


def run(ctx: StageContext) -> dict:
    cfg, data, seed, task = ctx.config.suggest, ctx.dataset, ctx.config.seed, ctx.task.name
    oof = np.asarray(out_of_fold_probs(ctx), dtype=np.float32)
    write_npy(ctx.run.file(schema.OOF_PROBS), oof)
    factors = ctx.run.read_npz(schema.FACTORS)
    given = np.asarray(data.given_train, dtype=np.int64) if task == "classification" else data.given_train
    inputs = EstimateInputs(given=given, oof_probs=oof, probs=factors["probs"],
                            scores=np.asarray(factors["grad_l2"], dtype=np.float64), task=task)
    n = len(inputs)
    method, note = chosen_estimator(cfg.noise_estimator, task)
    chosen = estimate_with_interval(method, inputs, resamples=cfg.bootstrap, level=cfg.level,
                                    max_rows=cfg.max_rows, seed=seed, model_error=cfg.model_error)
    rows = subsample(n, cfg.max_rows, seed)
    others = {name: float(estimator_for(name, task).rate(inputs.take(rows)))
              for name in NOISE_ESTIMATORS if name != method
              and task in NOISE_ESTIMATORS.entry(name).meta.get("tasks", ("classification",))}
    noise_probability = posterior(method, inputs, chosen.value)
    ctx.manifest["suggested_budget"] = {
        **chosen.as_dict(), "budget": clamp_budget(chosen.value, n),
        "interval": f"percentile bootstrap over the training samples ({cfg.bootstrap} resamples of "
                    f"{chosen.rows} rows, the model held fixed), {cfg.level:.0%}, widened by ±{cfg.model_error:.1%} "
                    "for the model's own error",
        **({"note": note} if note else {}),
    }
    ctx.manifest["noise_estimates"] = {method: chosen.value, **others}
    source = LABEL_SUGGESTERS.entry(cfg.label_suggester).meta["probs"]
    write_parquet(ctx.run.file(schema.SUGGESTIONS),
                  pd.DataFrame(suggestion_columns(task, inputs, source, noise_probability, cfg.level)))
    ctx.reporter.message(f"suggested budget {chosen.value:.1%} ({cfg.level:.0%} interval {chosen.low:.1%} to "
                         f"{chosen.high:.1%}, {method})")
    return {"suggested_budget": chosen.value}
