"""Stage 8, evaluate: test accuracy before and after pruning the primary detector's flags."""

from __future__ import annotations

from core.pipeline.context import StageContext
from core.pipeline.retrain import retrain


def run(ctx: StageContext) -> dict:
    detect = ctx.config.detect
    retrain(ctx.run, detect.primary, 0.0, mode="full", dataset=ctx.dataset)
    row = retrain(ctx.run, detect.primary, detect.budget, mode="full", dataset=ctx.dataset, reporter=ctx.reporter)
    ctx.reporter.message(
        f"test accuracy after removing {row['n_removed']} flagged samples: {row['test_accuracy']:.4f}")
    return {"test_accuracy_after": row["test_accuracy"]}
