"""Stage 9, evaluate: the only stage that reads the test labels.

Everything before it (training, gradients, detectors, baselines, flags) is computed
without them, so two datasets that differ only in their test labels give the same scores
and flags (tests/pipeline/test_runner.py checks exactly that). Here the analyzed model's
test accuracy is measured, the test labels are stored for retraining and the dashboard,
and the manifest records whether the test labels can be trusted: verified by the source
(a curated test set, known truth) or carved from the same unverified labels as training,
in which case "accuracy" is agreement with labels that may themselves be wrong.
"""

from __future__ import annotations

from core.evaluate.report import test_label_origin
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import write_npy


def run(ctx: StageContext) -> dict:
    data = ctx.dataset
    test_probs = ctx.run.read_npz(schema.ERM_OUTPUTS)["test_probs"]
    write_npy(ctx.run.file(schema.TEST_LABELS), data.y_test)
    ctx.manifest["dataset"]["test_labels_verified"] = bool(data.test_labels_verified)
    ctx.manifest["dataset"]["test_split_carved"] = bool(data.test_split_carved)
    if len(data.y_test) == 0:
        ctx.manifest["model"][f"test_{ctx.task.metric}"] = None
        ctx.reporter.message("no test split: nothing to evaluate")
        return {f"test_{ctx.task.metric}": None}
    metrics = ctx.task.metrics(test_probs, data.y_test)
    for name, value in metrics.items():
        ctx.manifest["model"][f"test_{name}"] = value
    trust = "verified" if data.test_labels_verified else f"UNVERIFIED ({test_label_origin(data.test_split_carved)})"
    shown = ", ".join(f"test {name.replace('_', ' ')} {value:.4f}" for name, value in metrics.items())
    ctx.reporter.message(f"{shown} on {len(data.y_test)} test samples, labels {trust}")
    return {f"test_{name}": value for name, value in metrics.items()}
