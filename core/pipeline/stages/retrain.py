"""Stage 10, retrain: test accuracy with and without the primary detector's flags, over seeds.

`retrain.mode` (probe by default: seconds) and `retrain.seeds` (5 probe / 3 full); each
seed is paired with its own k = 0 baseline (core.pipeline.retrain). Skipped by
`gradsift analyze --no-retrain`.
"""

from __future__ import annotations

from core.pipeline.context import StageContext
from core.pipeline.retrain import retrain_seeds
from core.pipeline.stages.suggest import resolved_budget


def run(ctx: StageContext) -> dict:
    detect, cfg = ctx.config.detect, ctx.config.retrain
    if len(ctx.dataset.y_test) == 0:
        ctx.reporter.message("no test split: no retraining to measure")
        return {"accuracy_mean": None, "delta_mean": None}
    summary = retrain_seeds(ctx.run, detect.primary, resolved_budget(ctx.config, ctx.manifest), mode=cfg.mode, seeds=cfg.seed_count(),
                            dataset=ctx.dataset, reporter=ctx.reporter)
    low, high = summary.delta_ci
    ctx.reporter.message(
        f"{cfg.mode} retraining without the {summary.rows[0]['n_removed']} flagged samples, {len(summary.seeds)} "
        f"seeds: test accuracy {summary.accuracy_mean:.4f}, change vs k = 0 {summary.delta_mean:+.4f} "
        f"(95% CI {low:+.4f} to {high:+.4f})")
    return {"accuracy_mean": summary.accuracy_mean, "delta_mean": summary.delta_mean}
