"""Commands on an analyzed run: `gradsift info`, `retrain` and `sweep`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli.app import ConsoleReporter, app, friendly, out, print_table, table
from core.errors import ConfigError

FORMATS = ("table", "csv", "json")
DETECTION_COLUMNS = {"method": "method", "n_flagged": "flagged", "precision": "precision", "recall": "recall",
                     "f1": "F1", "auroc": "AUROC", "ap": "AP", "precision_at_truth": "P@#noisy"}


def _fmt(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def _fmt_int(value) -> str:
    return "-" if value is None or value != value else str(int(value))


def print_info(run_dir: Path, output_format: str = "table") -> None:
    """Print a run's summary as a table (full method names at any width), CSV (the detection table) or JSON."""
    from core.evaluate.report import run_summary

    if output_format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}; got {output_format!r}")
    summary = run_summary(run_dir)
    if output_format == "json":
        out.print_json(json.dumps(summary["report"]))
        return
    if output_format == "csv":
        import pandas as pd

        frame = pd.DataFrame(summary["detectors"])
        out.print(frame.to_csv(index=False), end="", highlight=False, soft_wrap=True)
        return
    out.print(f"[bold]{summary['path']}[/]")
    for line in summary["lines"]:
        out.print(f"  {line}", highlight=False)
    if summary["detectors"]:
        title = f"detection at budget {summary['budget']:.1%}" + (
            "" if summary["has_truth"] else " (no true labels: truth metrics unavailable)")
        detection = table(title, list(DETECTION_COLUMNS.values()), right=tuple(list(DETECTION_COLUMNS.values())[1:]))
        for row in summary["detectors"]:
            detection.add_row(row["method"], str(row["n_flagged"]),
                              *(_fmt(row[key]) for key in list(DETECTION_COLUMNS)[2:]))
        print_table(detection)
    if summary["retrain"]:
        print_table(retrain_table(summary["retrain"]))


def _ci(mean, interval, signed: bool = False) -> str:
    if mean is None or mean != mean:
        return "-"
    low, high = interval
    sign = "+" if signed else ""
    text = f"{mean:{sign}.4f}"
    return text if low is None else f"{text} [{low:{sign}.4f}, {high:{sign}.4f}]"


def retrain_table(summaries: list[dict]):
    """The test metric (accuracy; micro-F1 or RMSE for multi-label or regression runs: mean and 95% t-interval over
    seeds) and its paired change from k = 0; the title says when lower is better (RMSE)."""
    metric = (summaries[0].get("metric") if summaries else None) or "accuracy"
    name = f"test {metric.replace('_', '-')}"
    lower = summaries and summaries[0].get("higher_is_better") is False
    columns = ["detector", "budget", "mode", "reviews", "seeds", "removed", "truly noisy removed",
               f"{name} [95% CI]", "change vs k = 0 [95% CI]", "distinguishable from 0"]
    result = table(f"{name} after pruning (mean over seeds, 95% t-interval; change paired per seed"
                   + ("; lower is better, a gain is a negative change)" if lower else ")"), columns,
                   right=("removed", "truly noisy removed", f"{name} [95% CI]", "change vs k = 0 [95% CI]"))
    for row in summaries:
        baseline = row["budget"] == 0 and not row["reviews"]
        result.add_row(row["detector"] or "(none: k = 0)", f"{row['budget']:.1%}", row["mode"],
                       "applied" if row["reviews"] else "-", ", ".join(map(str, row["seeds"])), str(row["n_removed"]),
                       _fmt_int(row["n_removed_noisy"]), _ci(row["accuracy_mean"], row["accuracy_ci"]),
                       "-" if baseline else _ci(row["delta_mean"], row["delta_ci"], signed=True),
                       "-" if baseline or row["delta_ci"][0] is None else ("yes" if row["distinguishable"] else "no"))
    return result


@app.command()
@friendly
def info(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    output_format: Annotated[str, typer.Option("--format", help="table, csv (the detection table) or json.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")] = False,
) -> None:
    """Summarize a run: data, noise, per-detector precision/recall at the budget, AUROC, AP, accuracy."""
    print_info(run_dir, "json" if as_json else output_format)


@app.command()
@friendly
def retrain(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    detector: Annotated[Optional[str], typer.Option(help="Whose flags to remove (default: the run's primary detector).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Fraction of training samples to remove, 0 = baseline (default: the run's budget).")] = None,
    mode: Annotated[str, typer.Option(help="full (retrain the model) or probe (refit the last layer only).")] = "full",
    seeds: Annotated[Optional[int], typer.Option(help="Seeds, each paired with its own k = 0 baseline (default: 5 probe, 3 full).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="The first seed (default: the run's); the others follow it.")] = None,
) -> None:
    """Retrain without the flagged samples over seeds and record the paired test metric (accuracy, micro-F1, RMSE) in
    the run directory."""
    from core.evaluate.report import retrain_summaries
    from core.pipeline.retrain import retrain_seeds
    from core.run.results import read_results
    from core.run.rundir import RunDir

    run = RunDir(run_dir)
    flagging = run.flagging()
    result = retrain_seeds(run, detector or flagging.detector, flagging.budget if budget is None else budget, mode=mode, seeds=seeds, first_seed=seed, reporter=ConsoleReporter())
    results = read_results(run)
    chosen = results[results["request_key"].isin([row["request_key"] for row in result.rows])]
    print_table(retrain_table(retrain_summaries(chosen)))


@app.command()
@friendly
def sweep(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    detector: Annotated[Optional[list[str]], typer.Option("--detector", help="Detector(s); default: the run's primary.")] = None,
    mode: Annotated[str, typer.Option(help="full or probe.")] = "full",
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per budget (default: 5 probe, 3 full).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="The first seed (default: the run's).")] = None,
) -> None:
    """Test accuracy for budgets 0-12.5% in 2.5% steps (the paper's Fig. 5), mean over seeds."""
    from core.protocols.paper import budget_curve
    from core.run.rundir import RunDir

    detectors = tuple(detector or [RunDir(run_dir).flagging().detector])
    print_budget_table(budget_curve(run_dir, detectors, mode=mode, seeds=seeds, first_seed=seed,
                                    reporter=ConsoleReporter()))


def print_budget_table(curve) -> None:
    """Mean test accuracy per budget, and the paired change from k = 0 with its 95% t-interval."""
    budgets = sorted(curve.budget.unique())
    labels = [f"{b:.1%}" for b in budgets]
    result = table("test accuracy vs budget (mean over seeds; below: change vs k = 0 [95% CI])",
                   ["detector", *labels], right=tuple(labels))
    for name, part in curve.groupby("detector", sort=False):
        part = part.sort_values("budget")
        result.add_row(name, *(f"{acc:.4f}" for acc in part.accuracy_mean))
        result.add_row("", *("-" if b == 0 else _ci(d, (lo, hi), signed=True)
                             for b, d, lo, hi in zip(part.budget, part.delta_mean, part.delta_low, part.delta_high)))
    print_table(result)
