"""What `gradsift info` and the dashboard's overview say about a run, as plain data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.detect.flagging import budget_count
from core.evaluate.metrics import detection_metrics
from core.run import schema
from core.run.results import read_results
from core.run.rundir import RunDir


def detection_table(samples: pd.DataFrame, budget: float) -> pd.DataFrame:
    """One row per score column: flagged count and, when truth is known, the detection metrics."""
    has_truth = not samples[schema.IS_NOISY].isna().any()
    truth = samples[schema.IS_NOISY].to_numpy(dtype=bool) if has_truth else None
    rows = []
    for name in schema.score_names(samples.columns):
        scores = samples[schema.score_column(name)].to_numpy()
        if truth is not None:
            metrics = detection_metrics(scores, truth, budget)
        else:
            metrics = {key: float("nan") for key in ("precision", "recall", "f1", "auroc", "ap", "precision_at_truth")}
            metrics["n_flagged"] = budget_count(budget, len(scores))
        rows.append({"method": name, **metrics})
    return pd.DataFrame(rows)


def run_summary(path: str | Path) -> dict:
    """What `gradsift info` shows: summary lines, the detection table, retraining rows, and `report`,
    the machine-readable form (`gradsift info --json`)."""
    run = RunDir(path)
    manifest = run.read_manifest()
    config = run.config()
    samples = run.read_samples()
    data = manifest["dataset"]
    model = manifest["model"]
    lines = [
        f"dataset {data['name']} ({data['kind']}): {data['n_train']} train / {data['n_test']} test, "
        f"{len(data['class_names'])} classes",
        "noise: " + (f"{data['n_noisy']} of {data['n_train']} training labels differ from the truth "
                     f"({data['noise_rate']:.1%})" if data.get("n_noisy") is not None else "unknown (no true labels)"),
        f"model {model['name']}: test accuracy {model['test_accuracy']:.4f} "
        f"(best epoch {model['best_epoch']} of {model['epochs_run']})",
        f"gradients: {manifest['gradients']['mode']}, layers {manifest['gradients']['layers']}, "
        f"width {manifest['gradients']['width']} (stored {manifest['gradients']['stored_width']})",
        "stage seconds: " + ", ".join(f"{k} {v['seconds']:.1f}" for k, v in manifest["stages"].items()),
    ]
    table = detection_table(samples, config.detect.budget)
    retrain = read_results(run)
    retrain_rows = retrain.sort_values(["detector", "mode", "budget"]).to_dict("records") if len(retrain) else []
    return {
        "path": str(run.path),
        "budget": config.detect.budget,
        "primary": config.detect.primary,
        "has_truth": not samples[schema.IS_NOISY].isna().any(),
        "lines": lines,
        "detectors": table.to_dict("records"),
        "retrain": retrain_rows,
        "report": {
            "path": str(run.path),
            "dataset": data["name"],
            "n_train": int(data["n_train"]),
            "n_test": int(data["n_test"]),
            "true_noise_rate": data.get("noise_rate"),
            "test_accuracy": float(model["test_accuracy"]),
            "budget": config.detect.budget,
            "primary": config.detect.primary,
            "detection": {row["method"]: {key: _number(row[key]) for key in DETECTION_KEYS} for row in table.to_dict("records")},
            "retrain": [{key: _number(row[key]) for key in ("detector", "budget", "mode", "seed", "n_removed",
                                                          "n_removed_noisy", "test_accuracy")} for row in retrain_rows],
        },
    }


DETECTION_KEYS = ("n_flagged", "precision", "recall", "f1", "auroc", "ap", "precision_at_truth")
"""Per-method keys of the JSON report's `detection` entry."""


def _number(value):
    """JSON-safe: NaN and pandas NA become None, numpy scalars plain Python numbers."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value
