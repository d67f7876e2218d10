"""What `gradsift info` and the dashboard's overview say about a run, as plain data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.detect.flagging import Flagging, budget_count
from core.evaluate.intervals import t_interval
from core.evaluate.metrics import detection_metrics
from core.review.consensus import consensus_counts
from core.run import schema
from core.run.results import read_results
from core.run.reviews import ACTION, MISLABELED, NEW_LABEL, RELABEL, ReviewStore
from core.run.rundir import RunDir


def test_label_origin(carved: bool) -> str:
    """Where unverified test labels came from, in words."""
    return "carved from the same labels as training" if carved else \
        "the data's own test split, given with it and not marked verified"



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


def suggested_budget(manifest: dict) -> dict | None:
    """The suggest stage's noise-rate estimate {value, low, high, method, level} (fractions of the training set),
    whether the run flags it, the other estimators' values, and the estimated precision and recall of the run's
    flags (its `flagging`); None before the stage."""
    suggested = manifest.get("suggested_budget")
    if suggested is None:
        return None
    flagging = manifest.get("flagging", {})
    return {key: suggested[key] for key in ("value", "low", "high", "method", "level")} | {
        "applied": bool(flagging.get("auto")), "others": dict(manifest.get("noise_estimates", {})),
        "estimated_precision_at_budget": _number(flagging.get("estimated_precision")),
        "estimated_recall_at_budget": _number(flagging.get("estimated_recall"))}


def suggested_budget_line(suggested: dict, budget: float) -> str:
    others = ", ".join(f"{name} {value:.1%}" for name, value in suggested["others"].items()
                       if name != suggested["method"])
    return (f"suggested budget (estimated noise rate): {suggested['value']:.1%}, {suggested['level']:.0%} interval "
            f"{suggested['low']:.1%} to {suggested['high']:.1%} ({suggested['method']}"
            + (f"; other estimators: {others}" if others else "") + ")"
            + ("; applied (--budget auto)" if suggested["applied"] else "")
            + f"; at the budget {budget:.1%}: estimated precision {_fmt(suggested['estimated_precision_at_budget'])}, "
              f"recall {_fmt(suggested['estimated_recall_at_budget'])}")


def flagging_block(flagging: Flagging) -> dict:
    """The run's flagging decision as `gradsift info --json` shows it: detector, budget, auto, count."""
    return {"detector": flagging.detector, "budget": flagging.budget, "auto": flagging.auto, "count": flagging.count}


SUMMARY_KEYS = ("detector", "budget", "mode", "reviews_key")
"""What identifies one retraining over seeds in retrain.parquet."""


def retrain_summaries(results: pd.DataFrame) -> list[dict]:
    """One dict per (detector, budget, mode, reviews) of retrain.parquet: the seeds, and the 95% t-intervals
    of test accuracy and of its paired difference from k = 0 on the same seeds (JSON keys of `info --json`); the
    metric is the task's (`metric`; `improved`: the mean change is for the better, a lower value for RMSE)."""
    if not len(results):
        return []
    frame = results.assign(reviews_key=results["reviews_key"].fillna(""))
    out = []
    for (detector, budget, mode, reviews_key), part in frame.groupby(list(SUMMARY_KEYS), sort=True):
        part = part.sort_values("seed")
        metric = str(part["metric"].iloc[0]) if "metric" in part and part["metric"].notna().any() else "accuracy"
        higher = metric_higher_is_better(metric)
        accuracy, accuracy_lo, accuracy_hi = t_interval(part["test_accuracy"],
                                                        bounds=(0.0, 1.0) if higher else (0.0, float("inf")))
        delta, delta_lo, delta_hi = t_interval(part["delta"])
        out.append({
            "detector": detector or None, "budget": float(budget), "mode": mode,
            "seeds": [int(seed) for seed in part["seed"]], "reviews": reviews_key or None,
            "n_removed": int(part["n_removed"].iloc[0]),
            "n_removed_noisy": _number(part["n_removed_noisy"].iloc[0]),
            "accuracy_mean": accuracy, "accuracy_ci": [_number(accuracy_lo), _number(accuracy_hi)],
            "delta_mean": delta, "delta_ci": [_number(delta_lo), _number(delta_hi)],
            "distinguishable": bool(delta_lo > 0 or delta_hi < 0),
            "metric": metric, "higher_is_better": higher, "improved": bool(delta > 0 if higher else delta < 0),
        })
    return out


def metric_higher_is_better(metric: str) -> bool:
    """Whether a larger value of test metric `metric` is better (core.tasks.registry meta; RMSE: no)."""
    from core.tasks.registry import TASKS

    return next((bool(TASKS.entry(name).meta["higher"]) for name in TASKS.names()
                 if TASKS.entry(name).meta["metric"] == metric), True)


def reviewed_test_accuracy(run: RunDir) -> dict | None:
    """The analyzed model's accuracy on the test samples a person reviewed, with the reviewed labels:
    `keep` confirms the test label, `relabel` corrects it, `mislabeled` (no right label given) is left out.
    None when no test sample was reviewed."""
    if task_name(run.read_manifest()) != "classification":
        return None  # reviewed tag sets and values are the review side's to score
    decisions = ReviewStore(run.path, split="test").decisions()
    if not len(decisions):
        return None
    labels = run.test_labels().copy()
    ids = decisions[schema.SAMPLE_ID].to_numpy()
    actions = decisions[ACTION].to_numpy()
    relabel = actions == RELABEL
    labels[ids[relabel]] = decisions[NEW_LABEL].to_numpy()[relabel].astype(np.int64)
    usable = ids[actions != MISLABELED]
    if not len(usable):
        return {"n_reviewed": int(len(ids)), "n_used": 0, "accuracy": None}
    predicted = run.read_npz(schema.ERM_OUTPUTS)["test_probs"].argmax(axis=1)
    return {"n_reviewed": int(len(ids)), "n_used": int(len(usable)),
            "accuracy": float((predicted[usable] == labels[usable]).mean())}


def encoder_line(encoder: dict) -> str:
    """One line on a text run's encoder: which, its content hash, the token limit and how many texts it cut."""
    return (f"text encoder {encoder['name']} (sha256 {encoder['sha256'][:12]}, {encoder['dim']} dims, "
            f"{encoder['pooling']} pooling): {encoder['n_truncated']} of {encoder['n_texts']} texts truncated at "
            f"{encoder['max_length']} tokens")


def run_summary(path: str | Path) -> dict:
    """What `gradsift info` shows: summary lines, the detection table, retraining rows, and `report`,
    the machine-readable form (`gradsift info --json`)."""
    run = RunDir(path)
    manifest = run.read_manifest()
    samples = run.read_samples()
    data = manifest["dataset"]
    model = manifest["model"]
    verified = data.get("test_labels_verified")
    reviewed = reviewed_test_accuracy(run) if run.file(schema.TEST_LABELS).exists() else None
    schedule = ("solved exactly (L-BFGS)" if model.get("solver") == "lbfgs" else
                "outputs handed in: nothing trained" if model.get("solver") == "given" else
                f"best epoch {model['best_epoch']} of {model['epochs_run']}" + (", refit on every training sample"
                                                                               if model.get("refit") else ""))
    lines = [
        f"dataset {data['name']} ({data['kind']}): {data['n_train']} train ({model.get('n_validation', 0)} of them "
        f"the validation split) / {data['n_test']} test, {label_kind_text(task_name(manifest), data['class_names'])}",
        "noise: " + (f"{data['n_noisy']} of {data['n_train']} training labels differ from the truth "
                     f"({data['noise_rate']:.1%})" if data.get("n_noisy") is not None else "unknown (no true labels)"),
        f"model {model['name']}: {model_metrics_text(model, task_name(manifest))} ({schedule})",
        f"model choice: {model.get('choice', '-')}; weights: {model.get('weights', '-')}",
        *([encoder_line(data["encoder"])] if data.get("encoder") else []),
        "test labels: " + ("verified by the source" if verified else
                           f"UNVERIFIED: {test_label_origin(data.get('test_split_carved', True))}, so accuracy is "
                           "agreement with labels that may be wrong; review test samples to check them "
                           "(or pass --test-labels-verified if they were checked)"),
        *([f"accuracy on the {reviewed['n_used']} reviewed test samples (reviewed labels): "
           f"{_fmt_accuracy(reviewed['accuracy'])}"] if reviewed else []),
        *[f"note: {note}" for note in model.get("notes", [])],
        f"gradients: {manifest['gradients']['mode']}, layers {manifest['gradients']['layers']}, "
        f"width {manifest['gradients']['width']} (stored {manifest['gradients']['stored_width']})",
        "stage seconds: " + ", ".join(f"{k} {v['seconds']:.1f}" for k, v in manifest["stages"].items()),
    ]
    consensus = consensus_counts(ReviewStore(run.path, given_labels=samples[schema.GIVEN_LABEL].to_numpy()
                                             if schema.GIVEN_LABEL in samples else None))
    if consensus["votes"]:
        lines.append(f"reviews: {consensus['samples_decided']} samples decided by {consensus['annotators']} "
                     f"reviewer(s) (overlap {consensus['overlap']}); {consensus['disagreements_open']} open "
                     f"disagreement(s), left out until a lead adjudicates; {consensus['adjudicated']} adjudicated")
    flagging = run.flagging()
    table = detection_table(samples, flagging.budget)
    retrain = retrain_summaries(read_results(run))
    suggested = suggested_budget(manifest)
    lines.insert(2, f"flagged: {flagging.count} of {flagging.n} training samples by {flagging.detector} at budget "
                    f"{flagging.budget:.1%}" + (" (the suggested budget, --budget auto)" if flagging.auto else "")
                 + ("" if not manifest.get("stages", {}).get("retrain", {}).get("not_retrained") else
                    f"; not retrained: {manifest['stages']['retrain']['not_retrained']}"))
    if suggested is not None:
        lines.insert(3, suggested_budget_line(suggested, flagging.budget))
    return {
        "path": str(run.path),
        "budget": flagging.budget,
        "primary": flagging.detector,
        "has_truth": not samples[schema.IS_NOISY].isna().any(),
        "lines": lines,
        "detectors": table.to_dict("records"),
        "retrain": retrain,
        "report": {
            "path": str(run.path),
            "dataset": data["name"],
            "n_train": int(data["n_train"]),
            "n_test": int(data["n_test"]),
            "true_noise_rate": data.get("noise_rate"),
            "test_accuracy": model.get("test_accuracy"),
            "task": task_name(manifest),
            "test_metrics": {key[len("test_"):]: value for key, value in model.items()
                             if key.startswith("test_") and isinstance(value, (int, float))},
            "test_labels_verified": verified,
            "reviewed_test_accuracy": reviewed,
            "budget": flagging.budget,
            "primary": flagging.detector,
            "flagging": flagging_block(flagging),
            "history": manifest.get("history", []),
            "suggested_budget": suggested,
            **(
                {"encoder": {key: data["encoder"][key] for key in ("name", "sha256", "max_length", "n_truncated")}}
                if data.get("encoder")
                else {}
            ),
            "detection": {
                row["method"]: {key: _number(row[key]) for key in DETECTION_KEYS} for row in table.to_dict("records")
            },
            "retrain": retrain,
            "consensus": consensus,
        },
    }


DETECTION_KEYS = ("n_flagged", "precision", "recall", "f1", "auroc", "ap", "precision_at_truth")
"""Per-method keys of the JSON report's `detection` entry."""


def _number(value):
    """JSON-safe: NaN and pandas NA become None, numpy scalars plain Python numbers."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def label_kind_text(task: str, class_names: list[str]) -> str:
    """'10 classes', '4 tags (multi-label)' or 'target price (regression)'."""
    if task == "multilabel":
        return f"{len(class_names)} tags (multi-label)"
    if task == "regression":
        return f"target {class_names[0]} (regression)"
    return f"{len(class_names)} classes"


def task_name(manifest: dict) -> str:
    """The run's task kind as the data stage recorded it (runs without one classify); read without core.tasks,
    which imports torch (`gradsift info` stays light)."""
    return (manifest.get("task") or {}).get("name", "classification")


def model_metrics_text(model: dict, task: str) -> str:
    """'test accuracy 0.9123', or every test metric of the run's task ('test rmse 3.1, test mae 2.4 (rmse lower is
    better)')."""
    from core.tasks.registry import TASKS

    if task == "classification":
        return f"test accuracy {_fmt_accuracy(model.get('test_accuracy'))}"
    meta = TASKS.entry(task).meta
    metrics = [meta["metric"], *(key[len("test_"):] for key in model if key.startswith("test_")
                                 and key != f"test_{meta['metric']}" and isinstance(model[key], (int, float)))]
    text = ", ".join(f"test {name.replace('_', '-')} {_fmt_accuracy(model.get(f'test_{name}'))}" for name in metrics)
    return text + ("" if meta["higher"] else f" ({meta['metric']} lower is better)")


def _fmt_accuracy(value) -> str:
    return "-" if value is None else f"{value:.4f}"
