"""Stage 10, retrain: the test metric (accuracy; micro-F1 for multi-label, RMSE for regression) with and without
the run's flagged samples, over seeds.

Reads the run's `Flagging` (the samples stage resolved it), `retrain.mode` (probe by default:
seconds) and `retrain.seeds` (5 probe / 3 full); each seed is paired with its own k = 0
baseline (core.pipeline.retrain). A flagged set that would leave a class without a training
sample is not retrained: the stage completes and its record says why. Skipped by
`gradsift analyze --no-retrain`.
"""

from __future__ import annotations

from core.detect.flagging import Flagging
from core.pipeline.context import StageContext
from core.pipeline.retrain import EmptiedClassError, retrain_seeds


def run(ctx: StageContext) -> dict:
    cfg = ctx.config.retrain
    if len(ctx.dataset.y_test) == 0:
        ctx.reporter.message("no test split: no retraining to measure")
        return {"accuracy_mean": None, "delta_mean": None}
    flagging = Flagging.from_dict(ctx.manifest["flagging"])
    try:
        summary = retrain_seeds(ctx.run, flagging.detector, flagging.budget, mode=cfg.mode, seeds=cfg.seed_count(),
                                dataset=ctx.dataset, reporter=ctx.reporter)
    except EmptiedClassError as exc:
        ctx.reporter.message(f"not retrained: {exc}")
        return {"accuracy_mean": None, "delta_mean": None, "not_retrained": str(exc)}
    low, high = summary.delta_ci
    direction = "" if summary.higher_is_better else \
        f", lower is better: {'an improvement' if summary.improved else 'no improvement'}"
    ctx.reporter.message(
        f"{cfg.mode} retraining without the {summary.rows[0]['n_removed']} flagged samples, {len(summary.seeds)} "
        f"seeds: test {summary.metric.replace('_', '-')} {summary.accuracy_mean:.4f}, change vs k = 0 "
        f"{summary.delta_mean:+.4f} (95% CI {low:+.4f} to {high:+.4f}{direction})")
    return {"accuracy_mean": summary.accuracy_mean, "delta_mean": summary.delta_mean}
